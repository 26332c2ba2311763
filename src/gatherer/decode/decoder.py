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

This module reads the envelope (header, ack, key, market) and keeps the row buffers and the
quarantine; a body's values are typed by the TR's ``RowPlan`` (``rows.py``) in ``add``, so a bad
value is quarantined at once, and the buffers become Arrow tables once per flush (``arrow.py``),
with trading days and exchange times from ``times.py`` (where the date rule of dateless time
fields is described).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from gatherer.capture import Kind, Record
from gatherer.clock import TradingDays
from gatherer.decode.arrow import Batch, to_batch
from gatherer.decode.fields import BadValue, parse_key
from gatherer.decode.rows import Refused, RowPlan
from gatherer.decode.schema import layout
from gatherer.decode.times import FUTURE_SLACK_S, Zone
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.keys import symbol_of

__all__ = ["FUTURE_SLACK_S", "REASONS", "STATUS_MARKET", "STOCK_MARKET", "Batch", "Decoder", "Quarantined"]

log = logging.getLogger(__name__)

REASONS = ("not_json", "no_header", "unknown_tr", "bad_key", "body_not_object", "bad_value")
"""Every quarantine reason code (bounded: they label metrics)."""
STOCK_MARKET = "stock"
"""Market of a frame from a TR serving KOSPI and KOSDAQ (NXT/통합, VI_) whose symbol is not known."""
STATUS_MARKET = "all"
"""Market of JIF frames (market status for every market)."""

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
        self._days = TradingDays(cutoffs)
        self._seoul = Zone("Asia/Seoul")
        self._local = Zone(overseas_zone)
        self._batch_rows = batch_rows
        self._symbol_markets = symbol_markets or {}
        self._json = msgspec.json.Decoder(float_hook=Decimal)
        self._extra_json = msgspec.json.Encoder(decimal_format="number")
        self._plans: dict[str, RowPlan] = {}
        self._symbols: dict[tuple[str, str], str] = {}
        self._pending: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        self._ready: list[Batch] = []
        self._quarantine: list[Quarantined] = []
        self._logged_reasons: set[str] = set()
        self.frames_total = 0
        """FRAME records seen (data, acks and quarantined alike)."""
        self.rows_total = 0
        self.skipped_total = 0
        """Records that are not venue data: SENT and EVENT records, and the venue's acks (the worker
        and the ledger account for registrations; here they are only skipped)."""
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
        except Refused as r:
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
            raise Refused("not_json", f"not JSON: {e}") from None
        if obj.__class__ is not dict:
            raise Refused("no_header", f"top level is {type(obj).__name__}, not an object")
        header = obj.get("header")
        if header.__class__ is not dict:
            raise Refused("no_header", "no header object")
        if "rsp_cd" in header:  # an ack (LS_OPENAPI.md §2.4): venues.ls.envelope's rule
            self.skipped_total += 1
            return
        tr_cd = header.get("tr_cd")
        if tr_cd.__class__ is not str:
            raise Refused("no_header", f"header tr_cd is {tr_cd!r}")
        plan = self._plans.get(tr_cd)
        if plan is None:
            if tr_cd not in CATALOG:
                raise Refused("unknown_tr", f"TR {tr_cd[:20]!r} is not in the catalog", tr_cd[:20])
            plan = self._plans[tr_cd] = RowPlan(layout(tr_cd))
        body = obj.get("body")
        if body.__class__ is not dict:
            raise Refused("body_not_object", f"{tr_cd} body is {type(body).__name__}", tr_cd)
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

    def _symbol(self, plan: RowPlan, tr_key: object, body: dict[str, Any]) -> str:
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
                key = parse_key(body.get(plan.layout.key))
            except BadValue:
                key = None
            if key:
                return key
        raise Refused("bad_key", f"{tr_cd} header tr_key is {tr_key!r} and the body has no key", tr_cd)

    def _market(self, plan: RowPlan, symbol: str) -> str:
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

    def _batch(self, tr_cd: str, market: str, rows: list[tuple[Any, ...]]) -> Batch:
        return to_batch(
            self._plans[tr_cd].layout,
            market,
            rows,
            cutoff=self._days.cutoff(market),
            seoul=self._seoul,
            local=self._local,
        )
