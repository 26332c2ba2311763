"""The day's ledger as data: coverage per (TR, key), outages and volume gaps, and each stream's dark
time through an outage, scanned from the day's files.

Built from the day's files only — the journal (our SENT registrations, the venue's acks and data
frames, the worker's EVENT records), the volume gaps the stores found and the backfill results —
so it can be built again at any time and always says the same. Reads only: ``tables.py`` turns a
``Ledger`` into Arrow tables and ``day.write_ledger`` writes them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from gatherer.capture import Damage, Kind, Record, events, iter_records, list_segments
from gatherer.decode import STATUS_MARKET, STOCK_MARKET
from gatherer.ledger.chain import VolumeGap
from gatherer.ledger.gapfile import read_backfill, read_gaps
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.envelope import OK_CODE, SUBSCRIBE, UNSUBSCRIBE, read_header, read_registration
from gatherer.venues.ls.keys import symbol_of


@dataclass
class Coverage:
    """One (TR, key)'s day."""

    tr_cd: str
    tr_key: str
    subscribed_ns: int | None = None
    subscriptions: int = 0
    acked_ns: int | None = None
    refusals: int = 0
    refused_code: str = ""
    unanswered: int = 0
    drops: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    frames: int = 0

    @property
    def symbol(self) -> str:
        return self.tr_key.strip()


@dataclass
class Gap:
    """One row of ``gaps.parquet``."""

    id: str
    kind: str
    """``outage`` or ``volume``."""
    market: str
    channel: str
    tr_cd: str
    symbols: list[str]
    start_ns: int
    end_ns: int | None
    cause: str
    missing: int | None = None
    status: str = ""
    """Volume gaps: ``filled``, ``partly``, ``not_fillable`` or ``pending`` (not tried yet).
    Outages: ``recorded`` (what they cost a trade feed shows in the volume rows that follow)."""
    filled: int | None = None
    rest_tr: str = ""
    detail: str = ""
    conn_id: str = ""
    """Outages: the connection that was down."""


@dataclass
class Dark:
    """One row of ``dark.parquet``: one stream through one outage of its connection."""

    gap_id: str
    """The outage's row in ``gaps.parquet`` (its TR's)."""
    conn_id: str
    tr_cd: str
    tr_key: str
    start_ns: int
    """The disconnect (the outage's start)."""
    frames_before: int
    """Data frames the stream had delivered this day before the drop."""
    reconnected_ns: int | None = None
    acked_ns: int | None = None
    """Its re-acknowledgement (``00000``) on the reconnected connection; None: never re-registered."""
    first_ns: int | None = None
    """Its first data frame after the reconnect (None: none before the day's journal ends)."""

    @property
    def dark_ns(self) -> int | None:
        return None if self.acked_ns is None else self.acked_ns - self.start_ns


@dataclass
class Ledger:
    day: dt.date
    coverage: dict[tuple[str, str], Coverage] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)
    dark: list[Dark] = field(default_factory=list)
    stock_markets: dict[str, str] = field(default_factory=dict)
    """Code -> ``kospi``/``kosdaq`` from the day's ``stock_markets`` events: where the rows of TRs
    serving both stock markets (NXT, 통합) are filed, so coverage and dark time name it too."""

    def market_of(self, tr_cd: str, tr_key: str) -> str:
        """The market a (TR, key)'s rows are filed under: the TR's, or its code's for a TR of both
        stock markets (``stock`` when the journal does not say, or for VI of every stock)."""
        market = market_channel(tr_cd)[0]
        if market != STOCK_MARKET:
            return market
        try:
            return self.stock_markets.get(symbol_of(tr_cd, tr_key), market)
        except ValueError:
            return market

    def entry(self, tr_cd: str, tr_key: str) -> Coverage:
        key = (tr_cd, tr_key)
        got = self.coverage.get(key)
        if got is None:
            got = self.coverage[key] = Coverage(tr_cd, tr_key)
        return got


@cache
def market_channel(tr_cd: str) -> tuple[str, str]:
    """The market and channel a TR's rows are stored under when the symbol says no more (as the
    decoder names them: ``stock`` for a TR of both stock markets, ``all`` for JIF)."""
    spec = CATALOG.get(tr_cd)
    if spec is None:
        return "", ""
    market = spec.markets[0] if len(spec.markets) == 1 else STOCK_MARKET if spec.markets else STATUS_MARKET
    return market, spec.channel


@dataclass
class _Down:
    start_ns: int
    cause: str
    held: set[tuple[str, str]]


class _Scan:
    """Walks a day's journal records once."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.held: dict[str, set[tuple[str, str]]] = defaultdict(set)
        """conn_id -> registrations sent on its current connection."""
        self.down: dict[str, _Down] = {}
        self.outages: list[tuple[str, _Down, int | None]] = []
        self.last_ns: dict[str, int] = {}
        """conn_id -> receive time of its newest record."""
        self.dark: dict[str, dict[tuple[str, str], Dark]] = {}
        """conn_id -> its streams of its latest outage still waiting for their re-ack or first frame."""

    def frame(self, conn_id: str, payload: bytes, recv_ns: int) -> None:
        h = read_header(payload)
        if h is None or h.tr_cd is None or h.tr_key is None:
            return
        entry = self.ledger.entry(h.tr_cd, h.tr_key)
        waiting = self.dark.get(conn_id)
        dark = waiting.get((h.tr_cd, h.tr_key)) if waiting else None
        if h.is_ack:
            if h.rsp_cd == OK_CODE and h.tr_type == SUBSCRIBE:
                if entry.acked_ns is None:
                    entry.acked_ns = recv_ns
                if dark is not None and dark.acked_ns is None and dark.reconnected_ns is not None:
                    dark.acked_ns = recv_ns
            return
        if dark is not None and dark.reconnected_ns is not None and dark.first_ns is None:
            dark.first_ns = recv_ns
            if dark.acked_ns is not None and waiting is not None:
                del waiting[(h.tr_cd, h.tr_key)]  # both known: nothing more to wait for
        # A connection registered before the day began (its SENT records are in yesterday's
        # journal) shows what it holds by what it streams.
        self.held[conn_id].add((h.tr_cd, h.tr_key))
        entry.frames += 1
        if entry.first_ns is None:
            entry.first_ns = recv_ns
        entry.last_ns = recv_ns

    def sent(self, conn_id: str, payload: bytes, recv_ns: int) -> None:
        request = read_registration(payload)
        if request is None:
            return
        tr_type, tr_cd, tr_key = request
        pair = (tr_cd, tr_key)
        if tr_type == SUBSCRIBE:
            entry = self.ledger.entry(*pair)
            entry.subscriptions += 1
            if entry.subscribed_ns is None:
                entry.subscribed_ns = recv_ns
            self.held[conn_id].add(pair)
        elif tr_type == UNSUBSCRIBE:
            self.held[conn_id].discard(pair)

    def event(self, conn_id: str, payload: bytes, recv_ns: int) -> None:
        ev = events.decode(payload)
        if isinstance(ev, events.StockMarkets):
            self.ledger.stock_markets.update(dict.fromkeys(ev.kospi, "kospi"))
            self.ledger.stock_markets.update(dict.fromkeys(ev.kosdaq, "kosdaq"))
        elif isinstance(ev, events.Disconnected):
            held = self.held.pop(conn_id, set())
            if ev.reason != events.CLOSED_BY_US:
                self._go_down(conn_id, recv_ns, ev.reason or "disconnected", held)
        elif isinstance(ev, events.Connected):
            held = self.held.pop(conn_id, set())
            if held:
                # Registrations held but no `disconnected`: the worker process died (kill -9, crash)
                # and its restart connects again. The outage runs from its last record.
                start = self.last_ns.get(conn_id, recv_ns)
                self._go_down(conn_id, start, "the worker stopped without closing (crash or kill)", held)
            down = self.down.pop(conn_id, None)
            if down is not None:
                self.outages.append((conn_id, down, recv_ns))
                for dark in self.dark.get(conn_id, {}).values():
                    dark.reconnected_ns = recv_ns
        elif isinstance(ev, events.Holding):  # what a connection holds as a new day starts
            self.held[conn_id] = set(ev.registrations)
        elif isinstance(ev, events.Refused):
            entry = self.ledger.entry(ev.tr_cd, ev.tr_key)
            entry.refusals += 1
            entry.refused_code = ev.rsp_cd
        elif isinstance(ev, events.Unacknowledged):
            self.ledger.entry(ev.tr_cd, ev.tr_key).unanswered += 1

    def _go_down(self, conn_id: str, start_ns: int, cause: str, held: set[tuple[str, str]]) -> None:
        """An outage of ``conn_id`` begins (unless one is already open): its registrations drop."""
        if conn_id in self.down:
            return
        self.down[conn_id] = _Down(start_ns, cause, held)
        waiting = self.dark[conn_id] = {}  # streams of an earlier outage still waiting stay as they are
        for pair in sorted(held):
            entry = self.ledger.entry(*pair)
            entry.drops += 1
            tr_cd, tr_key = pair
            dark = Dark(
                f"{conn_id}-{start_ns}-{tr_cd}", conn_id, tr_cd, tr_key, start_ns, frames_before=entry.frames
            )
            waiting[pair] = dark
            self.ledger.dark.append(dark)

    def finish(self) -> list[Gap]:
        for conn_id, down in self.down.items():  # still down when the day's journal ends
            self.outages.append((conn_id, down, None))
        gaps: list[Gap] = []
        for conn_id, down, end_ns in sorted(self.outages, key=lambda o: o[1].start_ns):
            by_tr: dict[str, list[str]] = defaultdict(list)
            for tr_cd, tr_key in down.held:
                by_tr[tr_cd].append(tr_key.strip())
            if not by_tr:
                by_tr[""] = []
            for tr_cd, symbols in sorted(by_tr.items()):
                market, channel = market_channel(tr_cd)
                gaps.append(
                    Gap(
                        id=f"{conn_id}-{down.start_ns}-{tr_cd or 'none'}", kind="outage", market=market,
                        channel=channel, tr_cd=tr_cd, symbols=sorted(symbols), start_ns=down.start_ns,
                        end_ns=end_ns, cause=down.cause, status="recorded", conn_id=conn_id,
                        detail=f"connection {conn_id}",
                    )
                )  # fmt: skip
        return gaps


def _volume_gaps(gaps: Iterable[VolumeGap], results: dict[str, dict[str, Any]]) -> list[Gap]:
    out: list[Gap] = []
    for g in gaps:
        result = results.get(g.id, {})
        out.append(
            Gap(
                id=g.id, kind="volume", market=g.market, channel="trade", tr_cd=g.tr_cd, symbols=[g.symbol],
                start_ns=g.start_ns, end_ns=g.end_ns,
                cause=f"volume {g.volume_before:,} -> {g.volume_after:,} with a print of {g.size_after:,}",
                missing=g.missing, status=str(result.get("status", "pending")),
                filled=int(result["filled"]) if "filled" in result else None,
                rest_tr=str(result.get("rest_tr", "")), detail=str(result.get("detail", "")),
            )
        )  # fmt: skip
    return out


def journal_records(
    journal: Path, on_damage: Callable[[Damage], None] | None = None, *, side: str | None = None
) -> Iterator[tuple[str, Record]]:
    """(the connection as the ledger names it, record) of a day's journal. A sink's replica of
    another host's journal (``<collector>.<worker>-NNNNNN.journal``, ``capture.replica``) has its
    connections named ``<collector>.<conn_id>``: two collectors' workers name their connections alike.
    ``side``: only the journals of that collector (``""``: the host's own)."""
    for segment in list_segments(journal):
        prefix = side_of_segment(segment)
        if side is not None and prefix != side:
            continue
        for rec in iter_records(segment, on_damage=on_damage):
            yield (f"{prefix}.{rec.conn_id}" if prefix else rec.conn_id), rec


def side_of_segment(segment: Path) -> str:
    """The collector a journal segment came from (``<collector>.<worker>-N.journal`` on a sink's root),
    ``""`` for a journal of this host's own workers."""
    name = segment.name.rsplit("-", 1)[0]
    return name.rsplit(".", 1)[0] if "." in name else ""


def _ends_next_day(scan: _Scan, journal: Path, side: str | None) -> None:
    """Outages still open at the day's end: their end is the connection's next `connected`, in the
    next day's journal (a connection cut at 07:25 and back at 07:31), and their streams' re-acks
    (and first frames) follow it there, looked for until that connection's `registered` event."""
    following = {c for c, d in scan.dark.items() if d}
    if not (scan.down or following) or not journal.is_dir():
        return
    for conn_id, rec in journal_records(journal, side=side):
        if conn_id not in scan.down and conn_id not in following:
            continue
        if rec.kind == Kind.FRAME:
            if conn_id not in scan.down:  # back up: its acks and frames end its streams' darkness
                scan.frame(conn_id, rec.payload, rec.recv_ns)
            continue
        if rec.kind != Kind.EVENT:
            continue
        ev = events.decode(rec.payload)
        if isinstance(ev, events.Connected) and conn_id in scan.down:
            scan.outages.append((conn_id, scan.down.pop(conn_id), rec.recv_ns))
            for dark in scan.dark.get(conn_id, {}).values():
                dark.reconnected_ns = rec.recv_ns
        elif isinstance(ev, (events.Registered, events.Disconnected)) and conn_id not in scan.down:
            following.discard(conn_id)
        if not scan.down and not following:
            return


def scan_side(root: Path, day: dt.date, side: str | None = None) -> Ledger:
    """Coverage, outages and dark time of ``day`` from the journals of one collector (``side``), or
    of all of them (None)."""
    ledger = Ledger(day)
    scan = _Scan(ledger)
    journal = root / "journal" / f"date={day.isoformat()}"
    if journal.is_dir():
        for conn_id, rec in journal_records(journal, ledger.damage.append, side=side):
            if rec.kind == Kind.FRAME:
                scan.frame(conn_id, rec.payload, rec.recv_ns)
            elif rec.kind == Kind.SENT:
                scan.sent(conn_id, rec.payload, rec.recv_ns)
            else:
                scan.event(conn_id, rec.payload, rec.recv_ns)
            scan.last_ns[conn_id] = rec.recv_ns
    _ends_next_day(scan, root / "journal" / f"date={(day + dt.timedelta(days=1)).isoformat()}", side)
    ledger.gaps = scan.finish()
    return ledger


def build_ledger(root: Path, day: dt.date) -> Ledger:
    """The ledger of ``day`` from its journal, gap files and backfill results (reads only). A root
    holding several collectors' journals (a sink's) gets one ledger of all of them (``sides.py``)."""
    from gatherer.ledger.sides import combine

    journal = root / "journal" / f"date={day.isoformat()}"
    sides = sorted({side_of_segment(s) for s in list_segments(journal)}) if journal.is_dir() else []
    if len(sides) > 1:
        ledger = combine(day, {side: scan_side(root, day, side) for side in sides})
    else:
        ledger = scan_side(root, day)
    ledger.gaps += _volume_gaps(read_gaps(root, day), read_backfill(root, day))
    ledger.gaps.sort(key=lambda g: (g.start_ns, g.id))
    return ledger
