"""Journal records -> typed Arrow batches per TR, plus a quarantine for frames that do not decode.

``Decoder`` is pure and stateful: ``add`` takes journal records one at a time, ``flush`` returns the
rows gathered so far as one Arrow table per (TR, market). It does no I/O, reads no clock and never
raises out of ``add``: a frame that does not decode becomes a ``Quarantined`` entry with a bounded
reason code and a detail naming the field and value, and is counted. The raw journal stays the source
of truth (DESIGN.md, "Decode second"); ``seq`` in every row points back at it.

A data frame (LS_OPENAPI.md §2.5; LS's H1_ example, shortened)::

    {"header": {"tr_cd": "H1_", "tr_key": "005930"},
     "body": {"hotime": "084242", "offerho1": "72400", "bidho1": "72300", "offerrem1": "32616",
              ..., "donsigubun": "3", "shcode": "005930", "alloc_gubun": "", "volume": "136"}}

becomes one row of the H1_ table: ``hotime`` "084242" and ``hotime_ts`` 08:42:42 Asia/Seoul on the
receive date, ``offerho1`` 72400 (int64), ``alloc_gubun`` null, the five ``mid*`` fields the example
lacks null, ``symbol`` "005930". An OVC frame (§3.7) ``"curpr": "0. 14997.75"`` gives
``Decimal("14997.75")`` in a decimal128(24, 9) column, and ``trdtm`` "001640" with ``ovsdate``
"20230622" gives ``trdtm_ts`` 2023-06-22 00:16:40 in the overseas zone. Acks (§2.4: header with
``rsp_cd``, body null) are counted and skipped. Columns: ``schema.py`` and docs/formats.md.

Time fields without a date (every KRX TR, and OVH's ``hotime``) take their date from the receive
time in their wall clock: the latest of (receive date + 1, receive date, receive date - 1) that is not
more than ``FUTURE_SLACK_S`` after the receive time. So "235959" received at 00:00:02 belongs to the
previous date, "000000" received at 23:59:59.5 (venue clock slightly ahead) to the next, and any time
up to 23 hours old to the date it happened on.

Speed: values are parsed in ``add`` (so a bad value is quarantined at once), rows kept as tuples, and
columns built once per flush; the common all-digits case of integer fields is checked and converted
for the whole frame at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pyarrow as pa

from gatherer.capture import Kind, Record
from gatherer.clock import DEFAULT_CUTOFF, seoul_ns, trading_day_of
from gatherer.decode.fields import (
    BadValue,
    epoch_day,
    parse_dec,
    parse_int,
    parse_key,
    parse_str,
    parse_time,
    seconds_of_day,
    units_to_decimal,
)
from gatherer.decode.schema import Layout, TimeSource, column_name, layout
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.envelope import OK_CODE
from gatherer.venues.ls.keys import symbol_of

log = logging.getLogger(__name__)

REASONS = ("not_json", "no_header", "unknown_tr", "bad_key", "body_not_object", "bad_value")
"""Every quarantine reason code (bounded: they label metrics)."""
FUTURE_SLACK_S = 3600
"""How far after the receive time a dateless exchange time may lie (venue clock ahead of ours)."""
STOCK_MARKET = "stock"
"""Market of a frame from a TR serving KOSPI and KOSDAQ (NXT/통합, VI_) whose symbol is not known."""
STATUS_MARKET = "all"
"""Market of JIF frames (market status for every market)."""

_NS = 1_000_000_000
_HOUR_NS = 3600 * _NS
_DAY_S = 86_400
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_MAX_DETAIL = 200
_SYMBOL_CACHE_MAX = 200_000


@dataclass(frozen=True, slots=True)
class Batch:
    """Decoded rows of one TR and market: ``table`` has that TR's full schema (``schema_for``)."""

    tr_cd: str
    market: str
    channel: str
    table: pa.Table


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A frame that did not decode: where it came from, why (``reason`` is one of ``REASONS``),
    the bytes exactly as journaled, and a human ``detail`` naming the field and value."""

    seq: int
    recv_ns: int
    conn_id: str
    tr_cd: str | None
    reason: str
    payload: bytes
    detail: str = ""


class _Refused(Exception):
    def __init__(self, reason: str, detail: str, tr_cd: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.tr_cd = tr_cd


def _bad(tr_cd: str, field: str, value: object, err: BadValue) -> _Refused:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return _Refused("bad_value", f"{tr_cd} field {field}={shown}: {err}", tr_cd)


class _Plan:
    """One TR's field groups, compiled for the per-frame path.

    A row is ``(seq, recv_ns, conn_id, symbol, extra, *ints, *decs, *strs, *times, *dates)``.
    """

    __slots__ = (
        "decs",
        "get_order",
        "key_index",
        "known",
        "layout",
        "n_int",
        "names_ints",
        "names_strs",
        "names_times",
        "tr_cd",
    )

    def __init__(self, lay: Layout) -> None:
        self.layout = lay
        self.tr_cd = lay.spec.tr_cd
        self.names_ints = lay.ints
        self.decs = lay.decs
        self.names_strs = lay.strs
        self.names_times = lay.times
        self.get_order: tuple[str, ...] = (
            lay.ints + tuple(d[0] for d in lay.decs) + lay.strs + lay.times + lay.dates
        )
        self.n_int = len(lay.ints)
        self.key_index = lay.strs.index(lay.key) if lay.key else -1
        self.known = lay.field_names

    def values(self, body: dict[str, Any]) -> tuple[list[Any], int]:
        """The typed field values of a body in row order, and how many catalog fields the body had
        (non-null); raises ``_Refused`` on a bad value."""
        raw: list[Any] = list(map(body.get, self.get_order))
        ni = self.n_int
        ints = raw[:ni]
        out: list[Any]
        try:
            joined = "".join(ints)
            fast = (
                joined.isdigit() and joined.isascii() and "" not in ints and max(map(len, ints)) <= 18
            ) or ni == 0
        except TypeError:
            fast = False
        if fast:
            out = list(map(int, ints))
        else:
            out = [self._slow(parse_int, name, v) for name, v in zip(self.names_ints, ints, strict=True)]
        pos = ni
        for name, scale, precision in self.decs:
            v = raw[pos]
            pos += 1
            if v.__class__ is str:
                whole, _, frac = v.partition(".")
                if (
                    whole.isdigit()
                    and len(frac) <= scale
                    and (not frac or frac.isdigit())
                    and v.isascii()
                    and len(whole) + scale <= precision
                ):
                    out.append(int(whole + frac.ljust(scale, "0")))
                    continue
            try:
                out.append(parse_dec(v, scale, precision))
            except BadValue as e:
                raise _bad(self.tr_cd, name, v, e) from None
        first_str = len(out)
        for name in self.names_strs:
            v = raw[pos]
            pos += 1
            if v.__class__ is str:
                out.append(v if v and not v.isspace() else None)
            else:
                out.append(self._slow(parse_str, name, v))
        if self.key_index >= 0:
            key = out[first_str + self.key_index]
            if key is not None:
                out[first_str + self.key_index] = key.rstrip(" ")
        for name in self.names_times:
            v = raw[pos]
            pos += 1
            out.append(self._slow(parse_time, name, v))
        for name in self.layout.dates:
            v = raw[pos]
            pos += 1
            out.append(self._slow(_parse_date_keep, name, v))
        return out, len(raw) - raw.count(None)

    def _slow(self, parse: Callable[[object], Any], name: str, value: object) -> Any:
        try:
            return parse(value)
        except BadValue as e:
            raise _bad(self.tr_cd, name, value, e) from None


def _parse_date_keep(value: object) -> str | None:
    if value.__class__ is int:
        value = str(value)
    text = parse_str(value)
    if text is not None and epoch_day(text) is None:
        raise BadValue("not a date YYYYMMDD")
    return text


class _Zone:
    """UTC offsets of one IANA zone, cached by UTC hour and by local (day, hour)."""

    def __init__(self, name: str) -> None:
        self.tz = ZoneInfo(name)
        self._by_utc_hour: dict[int, int] = {}
        self._by_local_hour: dict[tuple[int, int], int] = {}

    def local_day(self, recv_ns: int) -> int:
        """Days since 1970-01-01 of the local date at a UTC instant."""
        hour = recv_ns // _HOUR_NS
        off = self._by_utc_hour.get(hour)
        if off is None:
            at = dt.datetime.fromtimestamp(hour * 3600, tz=self.tz)
            off = self._by_utc_hour[hour] = int(at.utcoffset().total_seconds())  # type: ignore[union-attr]
        return (recv_ns // _NS + off) // _DAY_S

    def utc_s(self, day: int, sod: int) -> int:
        """UTC seconds of a local wall time (fold=0: the first of an ambiguous hour, and a time in a
        spring-forward gap is read with the offset before the change)."""
        key = (day, sod // 3600)
        off = self._by_local_hour.get(key)
        if off is None:
            local = dt.datetime.combine(
                dt.date.fromordinal(day + _EPOCH_ORDINAL), dt.time(sod // 3600), tzinfo=self.tz
            )
            off = self._by_local_hour[key] = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]
        return day * _DAY_S + sod - off


def _timestamps(
    times: Sequence[str | None], dates: Sequence[str | None] | None, recv: Sequence[int], zone: _Zone
) -> list[int | None]:
    """``<field>_ts`` values (UTC ns) for one time column; see the module docstring for the date rule."""
    out: list[int | None] = []
    dated: dict[tuple[str, str], int] = {}
    undated: dict[tuple[str, int], tuple[int, int, int]] = {}
    for i, t in enumerate(times):
        if t is None:
            out.append(None)
            continue
        d = dates[i] if dates is not None else None
        if d is not None:
            ts = dated.get((t, d))
            if ts is None:
                ts = dated[(t, d)] = zone.utc_s(epoch_day(d) or 0, seconds_of_day(t))
            out.append(ts * _NS)
            continue
        r = recv[i]
        day = zone.local_day(r)
        cands = undated.get((t, day))
        if cands is None:
            sod = seconds_of_day(t)
            cands = undated[(t, day)] = (
                zone.utc_s(day + 1, sod),
                zone.utc_s(day, sod),
                zone.utc_s(day - 1, sod),
            )
        limit = r // _NS + FUTURE_SLACK_S
        ts = cands[0] if cands[0] <= limit else cands[1] if cands[1] <= limit else cands[2]
        out.append(ts * _NS)
    return out


def _decimal_array(units: Sequence[int | None], scale: int, precision: int) -> pa.Array:
    typ = pa.decimal128(precision, scale)
    try:
        ints = pa.array(units, pa.int64())
    except (OverflowError, pa.ArrowInvalid):
        return pa.array([None if u is None else units_to_decimal(u, scale) for u in units], typ)
    # Same 16-byte layout: cast the scaled integers exactly, then re-read them with the scale.
    return ints.cast(pa.decimal128(38, 0)).view(typ)


class Decoder:
    """Journal records in, typed batches and quarantine entries out (see the module docstring).

    ``cutoffs`` maps a market key (``kospi``, ``ofutures``, ... , ``stock`` for two-market TRs whose
    symbol is unknown, ``all`` for JIF) to its trading-day cutoff; default 07:30. ``stock`` falls back
    to ``kospi``'s cutoff. ``overseas_zone`` is the wall clock of overseas exchange-local time fields.
    ``batch_rows``: a (TR, market) with this many pending rows is turned into a batch at once.
    ``symbol_markets`` (symbol -> ``kospi``/``kosdaq``) places rows of TRs that serve both markets.
    """

    def __init__(
        self,
        *,
        cutoffs: Mapping[str, dt.time] | None = None,
        overseas_zone: str = "America/Chicago",
        batch_rows: int = 50_000,
        symbol_markets: Mapping[str, str] | None = None,
    ) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        self._cutoffs = dict(cutoffs or {})
        self._seoul = _Zone("Asia/Seoul")
        self._local = _Zone(overseas_zone)
        self._batch_rows = batch_rows
        self._symbol_markets = symbol_markets or {}
        self._json = msgspec.json.Decoder(float_hook=Decimal)
        self._extra_json = msgspec.json.Encoder(decimal_format="number")
        self._plans: dict[str, _Plan] = {}
        self._symbols: dict[tuple[str, str], str] = {}
        self._pending: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        self._ready: list[Batch] = []
        self._quarantine: list[Quarantined] = []
        self._logged_reasons: set[str] = set()
        self.frames_total = 0
        """FRAME records seen (data, acks and quarantined alike)."""
        self.rows_total = 0
        self.acks_total = 0
        self.acks_refused_total = 0
        """Acks whose rsp_cd is not 00000 (a refused registration)."""
        self.skipped_total = 0
        """SENT and EVENT records (not venue data)."""
        self.quarantined_total: Counter[str] = Counter()

    # -- public ---------------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        """Decode one journal record; never raises for what the record holds."""
        if record.kind is not Kind.FRAME:
            self.skipped_total += 1
            return
        self.frames_total += 1
        try:
            self._add_frame(record)
        except _Refused as r:
            self._quarantine_one(record, r.tr_cd, r.reason, r.detail)

    def add_all(self, records: Iterable[Record]) -> None:
        for record in records:
            self.add(record)

    def flush(self) -> list[Batch]:
        """Every pending row as batches (one per TR and market, oldest first); pending is emptied."""
        out = self._ready
        self._ready = []
        for (tr_cd, market), rows in self._pending.items():
            if rows:
                out.append(self._batch(tr_cd, market, rows))
        self._pending = {}
        return out

    @property
    def quarantined(self) -> list[Quarantined]:
        """Quarantine entries not yet taken (a copy)."""
        return list(self._quarantine)

    def take_quarantine(self) -> list[Quarantined]:
        """Quarantine entries since the last take; the list is emptied."""
        out = self._quarantine
        self._quarantine = []
        return out

    @property
    def pending_rows(self) -> int:
        return sum(map(len, self._pending.values())) + sum(int(b.table.num_rows) for b in self._ready)

    # -- per frame ------------------------------------------------------------------------------

    def _add_frame(self, record: Record) -> None:
        try:
            obj = self._json.decode(record.payload)
        except msgspec.DecodeError as e:
            raise _Refused("not_json", f"not JSON: {e}") from None
        if obj.__class__ is not dict:
            raise _Refused("no_header", f"top level is {type(obj).__name__}, not an object")
        header = obj.get("header")
        if header.__class__ is not dict:
            raise _Refused("no_header", "no header object")
        if "rsp_cd" in header:
            self.acks_total += 1
            if header.get("rsp_cd") != OK_CODE:
                self.acks_refused_total += 1
            return
        tr_cd = header.get("tr_cd")
        if tr_cd.__class__ is not str:
            raise _Refused("no_header", f"header tr_cd is {tr_cd!r}")
        plan = self._plans.get(tr_cd)
        if plan is None:
            if tr_cd not in CATALOG:
                raise _Refused("unknown_tr", f"TR {tr_cd[:20]!r} is not in the catalog", tr_cd[:20])
            plan = self._plans[tr_cd] = _Plan(layout(tr_cd))
        body = obj.get("body")
        if body.__class__ is not dict:
            raise _Refused("body_not_object", f"{tr_cd} body is {type(body).__name__}", tr_cd)
        symbol = self._symbol(plan, header.get("tr_key"), body)
        values, present = plan.values(body)
        extra = None
        if len(body) > present:
            unknown = {k: v for k, v in body.items() if k not in plan.known}
            if unknown:
                extra = self._extra_json.encode(unknown).decode()
        market = self._market(plan, symbol)
        key = (tr_cd, market)
        rows = self._pending.get(key)
        if rows is None:
            rows = self._pending[key] = []
        rows.append((record.seq, record.recv_ns, record.conn_id, symbol, extra, *values))
        self.rows_total += 1
        if len(rows) >= self._batch_rows:
            self._ready.append(self._batch(tr_cd, market, rows))
            self._pending[key] = []

    def _symbol(self, plan: _Plan, tr_key: object, body: dict[str, Any]) -> str:
        tr_cd = plan.tr_cd
        if tr_key.__class__ is str:
            cached = self._symbols.get((tr_cd, tr_key))
            if cached is not None:
                return cached
            try:
                symbol = symbol_of(tr_cd, tr_key)
            except ValueError as e:
                raise _Refused("bad_key", str(e), tr_cd) from None
            if len(self._symbols) >= _SYMBOL_CACHE_MAX:
                self._symbols.clear()
            self._symbols[(tr_cd, tr_key)] = symbol
            return symbol
        if tr_key is None:
            # The header table lists only tr_cd (§2.4); fall back to the body's key field.
            if not plan.layout.key:
                return "0"
            try:
                key = parse_key(body.get(plan.layout.key))
            except BadValue:
                key = None
            if key:
                return key
        raise _Refused("bad_key", f"{tr_cd} header tr_key is {tr_key!r} and the body has no key", tr_cd)

    def _market(self, plan: _Plan, symbol: str) -> str:
        markets = plan.layout.spec.markets
        if len(markets) == 1:
            return markets[0]
        if not markets:
            return STATUS_MARKET
        market = self._symbol_markets.get(symbol)
        return market if market in markets else STOCK_MARKET

    def _quarantine_one(self, record: Record, tr_cd: str | None, reason: str, detail: str) -> None:
        detail = detail if len(detail) <= _MAX_DETAIL else detail[: _MAX_DETAIL - 3] + "..."
        self.quarantined_total[reason] += 1
        self._quarantine.append(
            Quarantined(record.seq, record.recv_ns, record.conn_id, tr_cd, reason, record.payload, detail)
        )
        if reason not in self._logged_reasons:
            self._logged_reasons.add(reason)
            log.warning(
                "Frame quarantined (first with this reason): %s",
                detail,
                extra={"reason": reason, "conn_id": record.conn_id, "tr_cd": tr_cd, "seq": record.seq},
            )

    # -- per batch ------------------------------------------------------------------------------

    def _cutoff(self, market: str) -> dt.time:
        cut = self._cutoffs.get(market)
        if cut is None and market == STOCK_MARKET:
            cut = self._cutoffs.get("kospi")
        return cut or DEFAULT_CUTOFF

    def _trading_days(self, recv: Sequence[int], cutoff: dt.time) -> list[int]:
        out: list[int] = []
        lo = hi = 0
        day = 0
        for r in recv:
            if not lo <= r < hi:
                date = trading_day_of(r, cutoff)
                lo = seoul_ns(date, cutoff)
                hi = seoul_ns(date + dt.timedelta(days=1), cutoff)
                day = date.toordinal() - _EPOCH_ORDINAL
            out.append(day)
        return out

    def _batch(self, tr_cd: str, market: str, rows: list[tuple[Any, ...]]) -> Batch:
        plan = self._plans[tr_cd]
        lay = plan.layout
        n = len(rows)
        cols = list(zip(*rows, strict=True))
        seq, recv, conn, symbol, extra = cols[:5]
        arrays: dict[str, pa.Array] = {
            "seq": pa.array(seq, pa.int64()),
            "recv_ns": pa.array(recv, pa.int64()),
            "trading_day": pa.array(self._trading_days(recv, self._cutoff(market)), pa.date32()),
            "tr_cd": pa.array([tr_cd] * n, pa.string()),
            "conn_id": pa.array(conn, pa.string()),
            "symbol": pa.array(symbol, pa.string()),
            "extra": pa.array(extra, pa.string()),
        }
        pos = 5
        by_name: dict[str, Sequence[Any]] = {}
        for name in lay.ints:
            arrays[column_name(name)] = pa.array(cols[pos], pa.int64())
            pos += 1
        for name, scale, precision in lay.decs:
            arrays[column_name(name)] = _decimal_array(cols[pos], scale, precision)
            pos += 1
        for name in lay.strs + lay.times + lay.dates:
            by_name[name] = cols[pos]
            arrays[column_name(name)] = pa.array(cols[pos], pa.string())
            pos += 1
        for src in lay.time_sources:
            arrays[f"{src.field}_ts"] = self._ts_array(src, by_name, recv)
        table = pa.Table.from_arrays([arrays[f.name] for f in lay.schema], schema=lay.schema)
        return Batch(tr_cd, market, lay.spec.channel, table)

    def _ts_array(
        self, src: TimeSource, by_name: Mapping[str, Sequence[Any]], recv: Sequence[int]
    ) -> pa.Array:
        zone = self._seoul if src.clock == "seoul" else self._local
        dates = by_name[src.date_field] if src.date_field is not None else None
        values = _timestamps(by_name[src.field], dates, recv, zone)
        return pa.array(values, pa.timestamp("ns", tz="Asia/Seoul"))
