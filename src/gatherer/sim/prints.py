"""Every print the simulated market makes, kept per instrument, and LS's backfill TRs rendered from them.

``PrintHistory.add`` is called by ``MarketModel`` once per print (KRX and NXT stock prints, KRX
futures and options, overseas futures and options, auction prints included), whether or not any
WebSocket frame carries it. It appends one small tuple to the instrument's deque and nothing
else: cumulative values (volume, side volumes and counts, value) are not stored per print but
recovered when REST asks, by walking back from the tape's current totals and subtracting each
print. The tapes are the very objects the WebSocket frames are rendered from, so a REST row's
cumulative ``volume`` equals, print for print, the ``volume`` (S3_/K3_/NS3/US3, FC9/FC0/OC0) or
``totq`` (OVC/WOC) of the frame of the same print, and ``cvolume`` equals ``cvolume``/``trdq``.

Memory: the last ``PRINTS_PER_INSTRUMENT`` (20,000) prints per instrument and trading day, plus
the previous trading day's (o3136 ``gubun=1``). An entry is a 3- to 9-tuple of mostly shared
objects: about 100 bytes for a stock print, 70 for an overseas one and 250 for a KRX derivative
one, so a busy instrument holds at most ~2-5 MB per day kept. Older prints are dropped; a backfill
that pages past them simply reaches the end of the rows (``tr_cont`` N).

The REST side (``rest_api``) parses nothing itself: ``parse_query`` turns an InBlock into a
``Query`` (or raises ``BackfillRequestError`` naming the field) and ``page`` renders one page of
rows, newest first, with LS's field names and JSON value types (LS_OPENAPI.md §8.2-8.4):

* t1301 / t8454 (``exchgubun`` K KRX, N NXT, U 통합 = both venues' prints merged in time order
  with the cumulative values the US3 frames carry), 20 rows a page (``STOCK_PAGE_ROWS``);
* t2212 (and its older name t2201, same layout), ~200 rows a page (``DERIV_PAGE_ROWS``);
* o3116 (futures) and o3136 (``mktgb`` F futures, O options), ``readcnt`` rows a page.

Continuation positions are exact: the page's oldest print's sequence number (per instrument and
day, from 1) with the cumulative totals just before it, kept by ``rest_api`` under the
``tr_cont_key`` it hands out. A first call (``tr_cont`` N) that carries a ``cts_time``/``cts_seq``
is positioned from it alone: stock ``cts_time`` is HHMMSS + the print's 1-based position among its
second's prints, so it is exact; overseas ``cts_seq`` is the sequence number itself; t2212's
``cts_time`` is the oldest row's ``chetime``, which LS does not make unique, so only rows with an
earlier ``chetime`` follow.

It does no I/O and reads no clock: the caller passes ``now_ns``.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gatherer.sim.market import _State, _Traded

PRINTS_PER_INSTRUMENT = 20_000
"""Prints kept per instrument and trading day (a deque; the oldest are dropped)."""
STOCK_PAGE_ROWS = 20
"""Rows per t1301/t8454 page (LS's t8454 example page holds 20)."""
DERIV_PAGE_ROWS = 200
"""Rows per t2212/t2201 page (LS's t2212 example is one page of about 200 rows)."""
MAX_READCNT = 9_999
"""o3116/o3136 ``readcnt`` is Number 4."""

BACKFILL_TRS = ("t1301", "t8454", "t2212", "t2201", "o3116", "o3136")

_NS = 1_000_000_000
_SEOUL_OFFSET_S = 9 * 3600
_DAY_CUT_S = 7 * 3600
"""As in market.py: a simulated trading day starts at 07:00 Seoul."""
_KRX_MULTIPLIER = 250_000
"""As in market.py: KRW per KOSPI200 point; ``value`` is in 백만원."""

_STOCK, _DERIV, _OVERSEAS = 0, 1, 2
_KINDS = {"stock": _STOCK, "deriv": _DERIV, "overseas": _OVERSEAS}
_ENTRY = tuple[Any, ...]
Row = dict[str, object]
ChangeFn = Callable[["_State", int], tuple[str, str, str]]
"""The model's (sign code, change, rate) of a price against the reference, as its frames show them."""
InstrumentFn = Callable[[str, str], object]
"""The model's instrument lookup by (market, symbol); None when unknown."""


def trading_day(now_ns: int) -> int:
    """The simulated trading day of a time (days since 1970-01-01, cut at 07:00 Seoul), as the model's."""
    return (now_ns // _NS + _SEOUL_OFFSET_S - _DAY_CUT_S) // 86_400


def _seoul_hms(now_ns: int) -> str:
    sod = (now_ns // _NS + _SEOUL_OFFSET_S) % 86_400
    return f"{sod // 3600:02d}{sod % 3600 // 60:02d}{sod % 60:02d}"


class _Stream:
    """One instrument's prints on one trading day, and the tapes that hold their running totals."""

    __slots__ = ("count", "day", "kind", "krx", "nxt", "prints", "st")

    def __init__(self, st: _State, limit: int) -> None:
        self.st = st
        self.day = st.day
        self.kind = _KINDS[st.family]
        self.krx = st.krx
        self.nxt = st.nxt
        """The day's tape objects: the model replaces them at a new day, so these keep their totals."""
        self.prints: deque[_ENTRY] = deque(maxlen=limit)
        self.count = 0
        """Prints recorded today; the newest has sequence number ``count``."""

    def totals(self) -> tuple[int, ...]:
        """Cumulative values as of the newest print (see ``_subtract`` for the layout)."""
        k = self.krx
        if self.kind == _STOCK:
            n = self.nxt
            return (
                k.volume,
                k.mdvol,
                k.mdcnt,
                k.msvol,
                k.mscnt,
                n.volume,
                n.mdvol,
                n.mdcnt,
                n.msvol,
                n.mscnt,
            )
        if self.kind == _DERIV:
            return (k.volume, k.value, k.mdvol, k.mdcnt, k.msvol, k.mscnt)
        return (k.volume,)


class PrintHistory:
    """Per-instrument print history for the current and the previous trading day."""

    def __init__(self, change: ChangeFn, limit: int = PRINTS_PER_INSTRUMENT) -> None:
        self.change = change
        self.limit = limit
        """Deque length for streams opened from now on."""
        self._streams: dict[_State, _Stream] = {}
        self._prev: dict[_State, _Stream] = {}
        self._by_code: dict[tuple[str, str], _State] = {}

    def add(self, st: _State, traded: _Traded, buy: bool | None, hms: str, now_ns: int, k200: float) -> None:
        """Record one print (hot path): called after the tape has recorded it. ``buy`` None = auction."""
        stream = self._streams.get(st)
        if stream is None or stream.day != st.day:
            stream = self._open(st)
        stream.count += 1
        kind = stream.kind
        if kind == _STOCK:
            side = 0 if buy is None else 1 if buy else 2
            flag = side + 3 if traded.venue == "nxt" else side
            stream.prints.append((hms, traded.price, traded.size, flag))
        elif kind == _DERIV:
            side = 0 if buy is None else 1 if buy else 2
            stream.prints.append(
                (
                    now_ns,
                    traded.price,
                    traded.size,
                    side,
                    traded.notional,
                    st.ask_px[0],
                    st.bid_px[0],
                    st.openyak,
                    k200,
                )
            )
        else:
            stream.prints.append((now_ns, traded.price, traded.size))

    def _open(self, st: _State) -> _Stream:
        old = self._streams.get(st)
        if old is not None:
            self._prev[st] = old
        stream = self._streams[st] = _Stream(st, self.limit)
        self._by_code[(st.inst.market, st.inst.symbol)] = st
        return stream

    def stream(self, market: str, symbol: str, day: int) -> _Stream | None:
        """The instrument's prints of trading ``day``, if any were made and are still kept."""
        st = self._by_code.get((market, symbol))
        if st is None:
            return None
        for stream in (self._streams.get(st), self._prev.get(st)):
            if stream is not None and stream.day == day:
                return stream
        return None

    def prints(self, market: str, symbol: str, day: int) -> int:
        """How many prints the instrument made on ``day`` (kept or not); 0 if none."""
        stream = self.stream(market, symbol, day)
        return stream.count if stream is not None else 0


# -- requests ----------------------------------------------------------------------------------------


class BackfillRequestError(ValueError):
    """An InBlock value a backfill TR does not accept; the message names the field."""


@dataclass(frozen=True, slots=True)
class Query:
    """One backfill request, parsed."""

    tr_cd: str
    market: str
    symbol: str
    view: str
    """Stocks: ``K`` KRX, ``N`` NXT, ``U`` both; ``""`` otherwise."""
    start: str
    """HHMM: only rows at or after this minute; ``""`` = no bound."""
    end: str
    """HHMM: only rows at or before this minute; ``""`` = no bound."""
    min_cvolume: int
    inclusive: bool
    """t2212: rows with ``cvolume >= min_cvolume``; t1301/t8454: ``cvolume > min_cvolume``."""
    rows: int
    """Rows per page."""
    day_offset: int
    """0 today, 1 the previous trading day (o3136 ``gubun=1``)."""
    cts: str | int
    """The InBlock's ``cts_time``/``cts_seq``: ``""``/0 = start from the newest print."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a continuation resumes: before print ``bound`` of ``stream``, with the totals just before it."""

    query: Query
    stream: _Stream
    bound: int
    totals: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Page:
    out_block: Row
    rows: list[Row]
    more: Cursor | None
    """Where the next page starts, when older rows remain."""


def _text(block: Mapping[str, object], name: str) -> str:
    value = block.get(name)
    return "" if value is None else str(value).strip()


def _number(tr_cd: str, block: Mapping[str, object], name: str, default: int) -> int:
    value = block.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise BackfillRequestError(f"{tr_cd}InBlock.{name} must be a number, got {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise BackfillRequestError(f"{tr_cd}InBlock.{name} must be a number, got {value!r}") from None


def _hhmm(tr_cd: str, block: Mapping[str, object], name: str) -> str:
    text = _text(block, name)
    if text and not (len(text) == 4 and text.isdigit() and text[:2] <= "23" and text[2:] <= "59"):
        raise BackfillRequestError(f"{tr_cd}InBlock.{name} must be HHMM (4 digits) or empty, got {text!r}")
    return text


def parse_query(tr_cd: str, block: Mapping[str, object], instrument: InstrumentFn) -> Query:
    """The request an InBlock makes; BackfillRequestError names a field it cannot accept."""
    if tr_cd in ("t1301", "t8454"):
        code = _text(block, "shcode")
        market = next((m for m in ("kospi", "kosdaq") if instrument(m, code) is not None), None)
        if market is None:
            raise BackfillRequestError(f"{tr_cd}InBlock.shcode {code!r}: no such KRX stock")
        view = "K"
        if tr_cd == "t8454":
            gubun = _text(block, "exchgubun")
            view = gubun if gubun in ("N", "U") else "K"  # LS: anything else = KRX
        cvol = _number(tr_cd, block, "cvolume", 0)
        start, end = _hhmm(tr_cd, block, "starttime"), _hhmm(tr_cd, block, "endtime")
        cts = _text(block, "cts_time")
        if cts and not (len(cts) in (6, 10) and cts.isdigit()):
            raise BackfillRequestError(f"{tr_cd}InBlock.cts_time must be HHMMSS + 4 digits, got {cts!r}")
        return Query(tr_cd, market, code, view, start, end, cvol, False, STOCK_PAGE_ROWS, 0, cts)
    if tr_cd in ("t2212", "t2201"):
        code = _text(block, "focode")
        market = next((m for m in ("kfutures", "koptions") if instrument(m, code) is not None), None)
        if market is None:
            raise BackfillRequestError(f"{tr_cd}InBlock.focode {code!r}: no such KRX future or option")
        cvol = _number(tr_cd, block, "cvolume", 0)
        start, end = _hhmm(tr_cd, block, "stime"), _hhmm(tr_cd, block, "etime")
        cts = _text(block, "cts_time")
        if cts and not (len(cts) == 10 and cts.isdigit()):
            raise BackfillRequestError(f"{tr_cd}InBlock.cts_time must be 10 digits, got {cts!r}")
        return Query(tr_cd, market, code, "", start, end, cvol, True, DERIV_PAGE_ROWS, 0, cts)
    if tr_cd in ("o3116", "o3136"):
        gubun = _text(block, "gubun") or "0"
        allowed = ("0",) if tr_cd == "o3116" else ("0", "1")
        if gubun not in allowed:
            raise BackfillRequestError(f"{tr_cd}InBlock.gubun must be {' or '.join(allowed)}, got {gubun!r}")
        if tr_cd == "o3136":
            mktgb = _text(block, "mktgb")
            if mktgb not in ("F", "O"):
                raise BackfillRequestError(f"o3136InBlock.mktgb must be F or O, got {mktgb!r}")
            market = "ofutures" if mktgb == "F" else "ooptions"
        else:
            market = "ofutures"
        code = _text(block, "shcode")
        if instrument(market, code) is None:
            what = "overseas future" if market == "ofutures" else "overseas option"
            raise BackfillRequestError(f"{tr_cd}InBlock.shcode {code!r}: no such {what}")
        readcnt = _number(tr_cd, block, "readcnt", 20)
        if not 0 < readcnt <= MAX_READCNT:
            raise BackfillRequestError(f"{tr_cd}InBlock.readcnt must be 1 to {MAX_READCNT}, got {readcnt}")
        cts_seq = _number(tr_cd, block, "cts_seq", 0)
        if cts_seq < 0:
            raise BackfillRequestError(f"{tr_cd}InBlock.cts_seq must not be negative, got {cts_seq}")
        return Query(tr_cd, market, code, "", "", "", 0, True, readcnt, int(gubun), cts_seq)
    raise BackfillRequestError(f"{tr_cd} is not a backfill TR")


# -- pages -------------------------------------------------------------------------------------------


def _subtract(kind: int, t: list[int], e: _ENTRY) -> None:
    """Undo one print's contribution to running totals.

    Layouts: stocks (KRX volume, mdvol, mdcnt, msvol, mscnt, then the same for NXT); KRX
    derivatives (volume, value, mdvol, mdcnt, msvol, mscnt); overseas (volume,).
    """
    qty = e[2]
    if kind == _STOCK:
        flag = e[3]
        base = 5 if flag >= 3 else 0
        side = flag - 3 if flag >= 3 else flag
        t[base] -= qty
        if side == 1:
            t[base + 3] -= qty
            t[base + 4] -= 1
        elif side == 2:
            t[base + 1] -= qty
            t[base + 2] -= 1
    elif kind == _DERIV:
        side = e[3]
        t[0] -= qty
        t[1] -= e[4]
        if side == 1:
            t[4] -= qty
            t[5] -= 1
        elif side == 2:
            t[2] -= qty
            t[3] -= 1
    else:
        t[0] -= qty


def _in_view(view: str, e: _ENTRY) -> bool:
    return view == "U" or (e[3] >= 3) == (view == "N")


def _hms_of(kind: int, e: _ENTRY) -> str:
    return str(e[0]) if kind == _STOCK else _seoul_hms(e[0])


def _start_index(q: Query, stream: _Stream, snap: list[_ENTRY], base: int) -> int:
    """Sequence number before which the first page starts, from the InBlock's cts (count + 1 = newest)."""
    newest = stream.count + 1
    cts = q.cts
    if not cts:
        return newest
    if isinstance(cts, int):
        return min(cts, newest)
    kind = stream.kind
    if kind == _STOCK:
        hms, pos = cts[:6], int(cts[6:10] or "1")
        seen = 0
        for i, e in enumerate(snap):
            if not _in_view(q.view, e):
                continue
            if e[0] > hms:
                return base + i
            if e[0] == hms:
                seen += 1
                if seen >= pos:
                    return base + i
        return newest
    for i, e in enumerate(snap):
        if _seoul_hms(e[0]) + f"{e[0] % _NS // 100_000:04d}" >= cts:
            return base + i
    return newest


def page(history: PrintHistory, q: Query, now_ns: int, cursor: Cursor | None = None) -> Page:
    """One page of ``q``'s rows, newest first, from the start (or from ``cursor``)."""
    if cursor is not None:
        stream: _Stream | None = cursor.stream
    else:
        stream = history.stream(q.market, q.symbol, trading_day(now_ns) - q.day_offset)
    if stream is None:
        return Page(_out_block(q, None, None), [], None)
    kind = stream.kind
    snap = list(stream.prints)
    base = stream.count - len(snap) + 1
    """Sequence number of snap[0]."""
    if cursor is not None:
        totals = list(cursor.totals)
        i = cursor.bound - base - 1
    else:
        totals = list(stream.totals())
        i = len(snap) - 1
        bound = _start_index(q, stream, snap, base)
        while i >= 0 and base + i >= bound:
            _subtract(kind, totals, snap[i])
            i -= 1
    view, start, end, min_cvol, inclusive = q.view, q.start, q.end, q.min_cvolume, q.inclusive
    render = _RENDER[q.tr_cd]
    rows: list[Row] = []
    oldest = -1
    more: Cursor | None = None
    after: tuple[int, ...] = ()
    while i >= 0:
        e = snap[i]
        if kind == _STOCK and not _in_view(view, e):
            _subtract(kind, totals, e)
            i -= 1
            continue
        if start or end:
            hhmm = _hms_of(kind, e)[:4]
            if start and hhmm < start:
                break
            if end and hhmm > end:
                _subtract(kind, totals, e)
                i -= 1
                continue
        qty = e[2]
        if qty > min_cvol or (inclusive and qty == min_cvol):
            if len(rows) == q.rows:
                more = Cursor(q, stream, base + oldest, after)
                break
            rows.append(render(history, stream, e, totals, snap[i - 1] if i > 0 else None, view))
            oldest = i
            _subtract(kind, totals, e)
            after = tuple(totals)
        else:
            _subtract(kind, totals, e)
        i -= 1
    last = (snap[oldest], base + oldest, snap, oldest) if rows else None
    return Page(_out_block(q, stream, last), rows, more)


def _out_block(q: Query, stream: _Stream | None, last: tuple[_ENTRY, int, list[_ENTRY], int] | None) -> Row:
    tr_cd = q.tr_cd
    if tr_cd in ("o3116", "o3136"):
        return {"cts_seq": last[1] if last is not None else 0}
    if last is None or stream is None:
        cts = ""
    elif stream.kind == _STOCK:
        e, _seq, snap, i = last
        pos = 1
        j = i - 1
        while j >= 0 and snap[j][0] == e[0]:
            pos += _in_view(q.view, snap[j])
            j -= 1
        cts = f"{e[0]}{pos:04d}"
    else:
        e = last[0]
        cts = _seoul_hms(e[0]) + f"{e[0] % _NS // 100_000:04d}"
    out: Row = {"cts_time": cts}
    if tr_cd == "t8454":
        out["ex_shcode"] = {"K": "", "N": "N", "U": "U"}[q.view] + q.symbol
    return out


# -- rows --------------------------------------------------------------------------------------------


def _stock_row(
    history: PrintHistory, stream: _Stream, e: _ENTRY, t: list[int], older: _ENTRY | None, view: str
) -> Row:
    hms, price, qty, _flag = e
    if view == "K":
        vol, md, mdc, ms, msc = t[0:5]
    elif view == "N":
        vol, md, mdc, ms, msc = t[5:10]
    else:
        vol, md, mdc, ms, msc = (a + b for a, b in zip(t[0:5], t[5:10], strict=True))
    sign, change, rate = history.change(stream.st, price)
    power = ms * 100 / md if md else 0.0
    return {
        "chetime": hms,
        "price": price,
        "sign": sign,
        "change": int(change),
        "diff": rate,
        "cvolume": qty,
        "chdegree": f"{power:.2f}",
        "volume": vol,
        "mdvolume": md,
        "mdchecnt": mdc,
        "msvolume": ms,
        "mschecnt": msc,
        "revolume": ms - md,
        "rechecnt": msc - mdc,
    }


def _t1301_row(
    history: PrintHistory, stream: _Stream, e: _ENTRY, t: list[int], older: _ENTRY | None, view: str
) -> Row:
    row = _stock_row(history, stream, e, t, older, view)
    # LS's t1301 example zero-pads these two to their table widths: "000.68", "00163.65".
    row["diff"] = f"{float(str(row['diff'])):06.2f}"
    row["chdegree"] = f"{float(str(row['chdegree'])):08.2f}"
    return row


def _t8454_row(
    history: PrintHistory, stream: _Stream, e: _ENTRY, t: list[int], older: _ENTRY | None, view: str
) -> Row:
    row = _stock_row(history, stream, e, t, older, view)
    row["exchname"] = "NXT" if e[3] >= 3 else "KRX"
    return row


def _deriv_row(
    history: PrintHistory, stream: _Stream, e: _ENTRY, t: list[int], older: _ENTRY | None, view: str
) -> Row:
    now_ns, price, qty, _side, _notional, ask, bid, openyak, k200 = e
    st = stream.st
    vol, value, md, mdc, ms, msc = t
    pstr = st.pcache
    sign, change, _rate = history.change(st, price)
    if st.inst.market == "kfutures" and st.inst.kind == "future":
        px = price / st.unit
        theory = k200 * (1.0 + st.basis_t)
        ibasis, sbasis = f"{theory - k200:.2f}", f"{px - k200:.2f}"
        kasis = f"{(px - theory) * 100 / theory:.2f}" if theory else "0.00"
    else:
        ibasis = sbasis = kasis = "0.00"
    return {
        "chetime": _seoul_hms(now_ns) + f"{now_ns % _NS // 100_000:04d}",
        "price": pstr[price],
        "sign": sign,
        "change": change,
        "cvolume": qty,
        "chdegree": f"{ms * 100 / md:.2f}" if md else "0.00",
        "offerho": pstr[ask],
        "bidho": pstr[bid],
        "volume": str(vol),
        "openyak": openyak,
        "jnilopenupdn": openyak - st.openyak0,
        "j_openupdn": openyak - older[7] if older is not None else 0,
        "ibasis": ibasis,
        "sbasis": sbasis,
        "kasis": kasis,
        "value": str(value * _KRX_MULTIPLIER // (st.unit * 1_000_000)),
        "n_msvolume": str(ms),
        "n_mdvolume": str(md),
        "n_mschecnt": msc,
        "n_mdchecnt": mdc,
        "s_msvolume": str(ms - md),
        "s_mschecnt": msc - mdc,
    }


def _overseas_row(
    history: PrintHistory, stream: _Stream, e: _ENTRY, t: list[int], older: _ENTRY | None, view: str
) -> Row:
    now_ns, price, qty = e
    st = stream.st
    assert st.zone is not None
    local = dt.datetime.fromtimestamp(now_ns // _NS, tz=st.zone)
    sign, change, rate = history.change(st, price)
    return {
        "ovsdate": local.strftime("%Y%m%d"),
        "ovstime": local.strftime("%H%M%S"),
        "price": st.pcache[price],
        "sign": sign,
        "change": change,
        "diff": rate,
        "cvolume": qty,
        "volume": t[0],
    }


_RENDER: dict[str, Callable[[PrintHistory, _Stream, _ENTRY, list[int], _ENTRY | None, str], Row]] = {
    "t1301": _t1301_row,
    "t8454": _t8454_row,
    "t2212": _deriv_row,
    "t2201": _deriv_row,
    "o3116": _overseas_row,
    "o3136": _overseas_row,
}


__all__ = [
    "BACKFILL_TRS",
    "DERIV_PAGE_ROWS",
    "MAX_READCNT",
    "PRINTS_PER_INSTRUMENT",
    "STOCK_PAGE_ROWS",
    "BackfillRequestError",
    "Cursor",
    "Page",
    "PrintHistory",
    "Query",
    "page",
    "parse_query",
    "trading_day",
]
