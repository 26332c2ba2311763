"""LS's backfill TRs' answers: one page of rows, newest first, rendered from the print history
with LS's field names and JSON value types (LS_OPENAPI.md §8.2-8.4).

Cumulative values (volume, side volumes and counts, value) are not stored per print but
recovered here, by walking back from the tapes' current totals and subtracting each print. The
tapes are the very objects the WebSocket frames are rendered from, so a REST row's cumulative
``volume`` equals, print for print, the ``volume`` (S3_/K3_/NS3/US3, FC9/FC0/OC0) or ``totq``
(OVC/WOC) of the frame of the same print, and ``cvolume`` equals ``cvolume``/``trdq``.

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
from collections.abc import Callable
from dataclasses import dataclass

from gatherer.sim.backfill.query import Query
from gatherer.sim.market.prints import _DERIV, _ENTRY, _STOCK, PrintHistory, _Stream, trading_day
from gatherer.sim.market.rhythm import _NS, _SEOUL_OFFSET_S
from gatherer.sim.market.wire import _KRX_MULTIPLIER

Row = dict[str, object]


def _seoul_hms(now_ns: int) -> str:
    sod = (now_ns // _NS + _SEOUL_OFFSET_S) % 86_400
    return f"{sod // 3600:02d}{sod % 3600 // 60:02d}{sod % 60:02d}"


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
