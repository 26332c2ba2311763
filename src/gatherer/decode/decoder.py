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

This module reads the envelope (header, ack, key, market) and keeps the quarantine. A frame's
body is mostly kept unread until its rows become batches (``bodies.py``: memory); then the common
body (catalog fields only, every value a string or null) is read by msgspec straight into the TR's
values as sent, and ``buffers.TextRows`` types them a column at a time (``columns.py``), so a bad
value or body is quarantined then, in arrival order. Any other body (JSON numbers, unknown fields)
is read generically and typed value by value by the TR's ``RowPlan`` (``rows.py``) then, a frame
whose envelope is not the common form at once; ``per_value=True`` does the latter for every frame
(the reference the column path is tested against). Trading days and exchange times come
from ``times.py`` (where the date rule of dateless time fields is described). The ``session`` column
comes from ``phases.py``: JIF and VI frames are noted as they are added, in journal order, and each
batch's rows take the phase in force at their ``seq``; ``stock_markets`` EVENT records say which
market a code on a two-market TR (NXT, 통합, VI) is filed under.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import msgspec

from gatherer.capture import Kind, Record, events
from gatherer.clock import TradingDays
from gatherer.decode.arrow import Batch, text_batch, to_batch
from gatherer.decode.bodies import Bodies, merge_refusals
from gatherer.decode.buffers import TextRows, TypedRows
from gatherer.decode.fields import BadValue, parse_key
from gatherer.decode.phases import STATUS_TR, VI_TRS, Phases
from gatherer.decode.rows import Refused, RowPlan
from gatherer.decode.schema import layout
from gatherer.decode.times import FUTURE_SLACK_S, Zone
from gatherer.venues.ls.catalog import ALL_SYMBOLS, CATALOG
from gatherer.venues.ls.keys import symbol_of
from gatherer.venues.ls.night import DERIVATIVE_MARKETS, derivative_market

__all__ = ["FUTURE_SLACK_S", "REASONS", "STATUS_MARKET", "STOCK_MARKET", "Batch", "Decoder", "Quarantined"]

log = logging.getLogger(__name__)

REASONS = ("not_json", "no_header", "unknown_tr", "bad_key", "body_not_object", "bad_value")
"""Every quarantine reason code (bounded: they label metrics)."""
STOCK_MARKET = "stock"
"""Market of a frame from a TR serving KOSPI and KOSDAQ (NXT/통합, VI_) whose symbol is not known."""
STATUS_MARKET = "all"
"""Market of JIF frames (market status for every market)."""

_PHASE_TRS = frozenset({STATUS_TR, *VI_TRS})
_MAX_DETAIL = 200
_SYMBOL_CACHE_MAX = 200_000


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


class _Header(msgspec.Struct):
    tr_cd: str
    tr_key: str | None = None
    rsp_cd: Any = msgspec.UNSET


class _Frame(msgspec.Struct):
    """The common frame: a header with a string ``tr_cd``, and a body the TR's ``RowPlan`` reads
    (catalog fields only, each a string or null). Anything else (no header, not JSON, acks with a
    null body, unknown fields, JSON numbers) fails one of the two and is read again generically."""

    header: _Header
    body: msgspec.Raw


class Decoder:
    """Journal records in, typed batches and quarantine entries out (see the module docstring).

    ``cutoffs`` maps a market key (``kospi``, ``ofutures``, ... , ``stock`` for two-market TRs whose
    symbol is unknown, ``all`` for JIF) to a fixed trading-day cutoff; without one, the exchange's rule
    (``clock.TradingDays``: KRX the calendar date, else 07:30; DH0/DC0 the night rule). ``stock`` falls back
    to ``kospi``'s cutoff. ``overseas_zone`` is the wall clock of overseas exchange-local time fields.
    ``batch_rows``: a (TR, market) with this many pending rows is turned into a batch at once.
    ``symbol_markets`` (symbol -> ``kospi``/``kosdaq``) places rows of TRs that serve both markets.
    ``per_value``: type every value as its frame is added (the reference the column-wise typing is
    tested against; slower). Either way the batches and the quarantine are the same.
    """

    def __init__(
        self,
        *,
        cutoffs: Mapping[str, dt.time] | None = None,
        overseas_zone: str = "America/Chicago",
        batch_rows: int = 50_000,
        symbol_markets: Mapping[str, str] | None = None,
        per_value: bool = False,
        phases: Mapping[str, Any] | None = None,
    ) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        self._days = TradingDays(cutoffs)
        self._seoul = Zone("Asia/Seoul")
        self._local = Zone(overseas_zone)
        self._symbol_markets = symbol_markets or {}
        self._json = msgspec.json.Decoder(float_hook=Decimal)
        self._frames = msgspec.json.Decoder(_Frame)
        self._bodies = Bodies()
        self._plans: dict[str, RowPlan] = {}
        self._symbols: dict[tuple[str, str], str] = {}
        self._per_value = per_value
        self._typed = TypedRows(batch_rows, self._typed_batch)
        self._texts = TextRows(batch_rows, self._text_batch, self._refuse_row)
        self._rows: TypedRows | TextRows = self._typed if per_value else self._texts
        self._phases = Phases(phases)
        self._learned: dict[str, str] = dict((phases or {}).get("stock_markets", {}))
        """Markets learned from ``stock_markets`` events (kept in the checkpoint with the phases)."""
        if self._learned:
            self._symbol_markets = {**self._symbol_markets, **self._learned}
        """JIF and VI transitions seen so far, for the ``session`` column (``phases.py``)."""
        self._quarantine: list[tuple[int, Quarantined]] = []
        self._reasons: dict[int, str] = {}
        """Reasons of deferred frames refused while typed, by frame index, until quarantined."""
        self._unsorted = False
        self._logged_reasons: set[str] = set()
        self.frames_total = 0
        """FRAME records seen (data, acks and quarantined alike)."""
        self.skipped_total = 0
        """Records that are not venue data: SENT and EVENT records, and the venue's acks (the worker
        and the ledger account for registrations; here they are only skipped)."""
        self.quarantined_total: Counter[str] = Counter()

    # -- public ---------------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        """Decode one journal record; never raises for what the record holds."""
        if record.kind is not Kind.FRAME:
            self.skipped_total += 1
            if record.kind is Kind.EVENT and b'"stock_markets"' in record.payload:
                self._learn_markets(record.payload)
            return
        self.frames_total += 1
        try:
            self._add_frame(record)
        except Refused as r:
            self._quarantine_one(self.frames_total, record, r.tr_cd, r.reason, r.detail)

    def _learn_markets(self, payload: bytes) -> None:
        """A worker's ``stock_markets`` event: the market of each code on a two-market feed."""
        event = events.decode(payload)
        if isinstance(event, events.StockMarkets):
            self._learned.update(dict.fromkeys(event.kospi, "kospi"))
            self._learned.update(dict.fromkeys(event.kosdaq, "kosdaq"))
            self._symbol_markets = {**self._symbol_markets, **self._learned}

    def add_all(self, records: Iterable[Record]) -> None:
        for record in records:
            self.add(record)

    def flush(self) -> list[Batch]:
        """Every pending row as batches (one per TR and market, oldest first); pending is emptied."""
        out = self._rows.flush()
        self._phases.settle()
        return out

    def phases_state(self) -> dict[str, Any]:
        """The session-phase state after the rows flushed so far, for the store's checkpoint (pass it
        back as ``phases`` to go on where this decoder stopped)."""
        state = self._phases.state()
        if self._learned:
            state["stock_markets"] = dict(self._learned)
        return state

    @property
    def rows_total(self) -> int:
        """Rows decoded into batches (a frame's values are typed by the time it is in a batch)."""
        return self._rows.rows_total

    @property
    def quarantined(self) -> list[Quarantined]:
        """Quarantine entries not yet taken (a copy). A bad value in a frame of strings is found
        when its rows are typed (at ``batch_rows``, ``pending_rows`` or ``flush``); entries are in
        the order the frames were added."""
        return [q for _, q in self._sorted_quarantine()]

    def take_quarantine(self) -> list[Quarantined]:
        """Quarantine entries since the last take; the list is emptied."""
        out = [q for _, q in self._sorted_quarantine()]
        self._quarantine = []
        return out

    @property
    def pending_rows(self) -> int:
        """Rows not yet flushed (see ``buffers.TextRows.pending_rows``: exact from ``batch_rows`` on)."""
        return self._rows.pending_rows

    # -- per frame ------------------------------------------------------------------------------

    def _add_frame(self, record: Record) -> None:
        if not self._per_value:
            try:
                frame = self._frames.decode(record.payload)
            except msgspec.DecodeError:
                pass  # not the common form: read generically below, for the exact reason or row
            else:
                header = frame.header
                if header.rsp_cd is not msgspec.UNSET:
                    self.skipped_total += 1
                    return
                plan = self._plan(header.tr_cd)
                if self._defer(record, plan, header.tr_key, frame.body):
                    return
                try:
                    values = msgspec.structs.astuple(plan.body_decoder.decode(frame.body))
                except msgspec.DecodeError:
                    pass
                else:
                    key_value = values[plan.key_pos] if header.tr_key is None and plan.key_pos >= 0 else None
                    symbol = self._symbol(plan, header.tr_key, key_value)
                    if symbol == ALL_SYMBOLS or plan.tr_cd in _PHASE_TRS:
                        fields = dict(zip(plan.get_order, values, strict=True))
                        symbol = self._phase_frame(record, plan, symbol, fields)
                    key = (plan.tr_cd, self._market(plan, symbol))
                    first = (self.frames_total, record.seq, record.recv_ns, record.conn_id, record.payload)
                    self._texts.add(key, (*first, symbol, None), (values,))
                    return
        try:
            obj = self._json.decode(record.payload)
        except msgspec.DecodeError as e:
            raise Refused("not_json", f"not JSON: {e}") from None
        if obj.__class__ is not dict:
            raise Refused("no_header", f"top level is {type(obj).__name__}, not an object")
        head = obj.get("header")
        if head.__class__ is not dict:
            raise Refused("no_header", "no header object")
        if "rsp_cd" in head:  # an ack (LS_OPENAPI.md §2.4): venues.ls.envelope's rule
            self.skipped_total += 1
            return
        tr_cd = head.get("tr_cd")
        if tr_cd.__class__ is not str:
            raise Refused("no_header", f"header tr_cd is {tr_cd!r}")
        plan = self._plan(tr_cd)
        body = obj.get("body")
        if body.__class__ is not dict:
            raise Refused("body_not_object", f"{tr_cd} body is {type(body).__name__}", tr_cd)
        self._add_row(record, plan, head.get("tr_key"), body)

    def _plan(self, tr_cd: str) -> RowPlan:
        plan = self._plans.get(tr_cd)
        if plan is None:
            if tr_cd not in CATALOG:
                raise Refused("unknown_tr", f"TR {tr_cd[:20]!r} is not in the catalog", tr_cd[:20])
            plan = self._plans[tr_cd] = RowPlan(layout(tr_cd))
        return plan

    def _add_row(self, record: Record, plan: RowPlan, tr_key: object, body: dict[str, Any]) -> None:
        """One data frame's row, read generically (its values typed now, one by one)."""
        key_value = body.get(plan.layout.key) if tr_key is None and plan.layout.key else None
        symbol = self._symbol(plan, tr_key, key_value)
        if symbol == ALL_SYMBOLS or plan.tr_cd in _PHASE_TRS:
            symbol = self._phase_frame(record, plan, symbol, body)
        values, present = plan.values(body) if self._per_value else plan.texts(body)
        extra = self._bodies.extra(plan, body, present)
        key = (plan.tr_cd, self._market(plan, symbol))
        if self._per_value:
            self._typed.add(key, (record.seq, record.recv_ns, record.conn_id, symbol, extra, *values))
        else:
            first = (self.frames_total, record.seq, record.recv_ns, record.conn_id, record.payload)
            self._texts.add(key, (*first, symbol, extra), (tuple(values),))

    def _defer(self, record: Record, plan: RowPlan, tr_key: object, body: msgspec.Raw) -> bool:
        """Keep the body of a frame that needs none of it now unread until its rows are typed
        (``bodies.py``: the store's memory); False when it does, or when it is not an object."""
        if tr_key.__class__ is not str or plan.tr_cd in _PHASE_TRS:
            return False  # its symbol or the session phase needs the body now
        if memoryview(body)[:1].tobytes() != b"{":
            return False  # not an object: refused now, as before
        try:
            symbol = self._symbol(plan, tr_key, None)
        except Refused:
            return False  # read now, as before: the body's own fault, if any, is reported first
        if symbol == ALL_SYMBOLS:
            return False
        key = (plan.tr_cd, self._market(plan, symbol))
        first = (self.frames_total, record.seq, record.recv_ns, record.conn_id, record.payload)
        self._texts.add(key, (*first, symbol, None), (body,))
        return True

    def _symbol(self, plan: RowPlan, tr_key: object, key_value: object) -> str:
        """The row's symbol: from the header ``tr_key``, else from the body's key field's value."""
        tr_cd = plan.tr_cd
        if tr_key.__class__ is str:
            cached = self._symbols.get((tr_cd, tr_key))
            if cached is not None:
                return cached
            try:
                symbol = symbol_of(tr_cd, tr_key)
            except ValueError as e:
                raise Refused("bad_key", str(e), tr_cd) from None
            if len(self._symbols) >= _SYMBOL_CACHE_MAX:
                self._symbols.clear()
            self._symbols[(tr_cd, tr_key)] = symbol
            return symbol
        if tr_key is None:
            # The header table lists only tr_cd (§2.4); fall back to the body's key field.
            if not plan.layout.key:
                return "0"
            try:
                key = parse_key(key_value)
            except BadValue:
                key = None
            if key:
                return key
        raise Refused("bad_key", f"{tr_cd} header tr_key is {tr_key!r} and the body has no key", tr_cd)

    def _phase_frame(self, record: Record, plan: RowPlan, symbol: str, body: Mapping[str, Any]) -> str:
        """Note a JIF or VI frame's transition; the symbol of a row of a registration for every stock
        (``000000``) is the body's key field (``shcode``)."""
        if symbol == ALL_SYMBOLS and plan.layout.key:
            try:
                key = parse_key(body.get(plan.layout.key))
            except BadValue:
                key = None
            if not key:
                raise Refused(
                    "bad_key",
                    f"{plan.tr_cd} for every stock and the body has no {plan.layout.key}",
                    plan.tr_cd,
                )
            symbol = key
        if plan.tr_cd == STATUS_TR:
            self._phases.note_status(record.seq, record.recv_ns, body.get("jangubun"), body.get("jstatus"))
        elif plan.tr_cd in VI_TRS:
            self._phases.note_vi(record.seq, record.recv_ns, plan.tr_cd, symbol, body)
        return symbol

    def _market(self, plan: RowPlan, symbol: str) -> str:
        markets = plan.layout.spec.markets
        if len(markets) == 1:
            return markets[0]
        if not markets:
            return STATUS_MARKET
        market = self._symbol_markets.get(symbol)
        if market in markets:
            return market
        if markets == DERIVATIVE_MARKETS:
            return derivative_market(symbol)  # DH0/DC0: the code says future or option
        return STOCK_MARKET

    def _quarantine_one(
        self, index: int, record: Record, tr_cd: str | None, reason: str, detail: str
    ) -> None:
        q = Quarantined(record.seq, record.recv_ns, record.conn_id, tr_cd, reason, record.payload, detail)
        self._quarantine_item(index, q)

    def _quarantine_item(self, index: int, q: Quarantined) -> None:
        if len(q.detail) > _MAX_DETAIL:
            q = replace(q, detail=q.detail[: _MAX_DETAIL - 3] + "...")
        self.quarantined_total[q.reason] += 1
        if self._quarantine and index < self._quarantine[-1][0]:
            self._unsorted = True
        self._quarantine.append((index, q))
        if q.reason not in self._logged_reasons:
            self._logged_reasons.add(q.reason)
            log.warning(
                "Frame quarantined (first with this reason): %s",
                q.detail,
                extra={"reason": q.reason, "conn_id": q.conn_id, "tr_cd": q.tr_cd, "seq": q.seq},
            )

    def _sorted_quarantine(self) -> list[tuple[int, Quarantined]]:
        if self._unsorted:
            self._quarantine.sort(key=lambda item: item[0])
            self._unsorted = False
        return self._quarantine

    # -- per batch ------------------------------------------------------------------------------

    def _typed_batch(self, key: tuple[str, str], rows: list[tuple[Any, ...]]) -> Batch:
        tr_cd, market = key
        return to_batch(
            self._plans[tr_cd].layout,
            market,
            rows,
            cutoff=self._days.cutoff(market),
            seoul=self._seoul,
            local=self._local,
            sessions=self._phases.column,
        )

    def _text_batch(
        self, key: tuple[str, str], heads: list[tuple[Any, ...]], bodies: list[Any]
    ) -> tuple[Batch, dict[int, str]]:
        """Type one key's pending rows (``bodies.Bodies.read``: values as sent, or bodies read now);
        returns the batch and the details of the rows left out, by position in ``heads``."""
        tr_cd, market = key
        plan = self._plans[tr_cd]
        values, extras, refused = self._bodies.read(plan, heads, bodies)
        for i, (reason, _) in refused.items():
            self._reasons[heads[i][0]] = reason
        kept = [h for i, h in enumerate(heads) if i not in refused] if refused else heads
        if not kept:
            empty = Batch(tr_cd, market, plan.layout.spec.channel, plan.layout.schema.empty_table())
            return empty, merge_refusals(len(heads), refused, {})
        cols = list(zip(*kept, strict=True))
        batch, bad = text_batch(
            plan.layout,
            market,
            [*cols[1:4], cols[5], extras],
            values,
            cutoff=self._days.cutoff(market),
            seoul=self._seoul,
            local=self._local,
            sessions=self._phases.column,
        )
        return batch, merge_refusals(len(heads), refused, bad)

    def _refuse_row(self, key: tuple[str, str], row: tuple[Any, ...], detail: str) -> None:
        """A text row left out when typed (``buffers.TextRows``): its frame goes to quarantine, with
        ``bad_value`` or the reason its body was refused for when read late (``bodies.py``)."""
        index, seq, recv_ns, conn_id, payload = row[:5]
        reason = self._reasons.pop(index, "bad_value")
        self._quarantine_item(index, Quarantined(seq, recv_ns, conn_id, key[0], reason, payload, detail))
