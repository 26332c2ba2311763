"""The run's picture: every figure the status page, ``/metrics``, ``/healthz`` and `gatherer status`
show, from the workers' and stores' status files (``ops.snapshot``) and what the supervisor itself
knows (``RunFacts``: its worker processes, tokens, backfill passes, errors).

``Observer.sample`` makes one ``Picture`` and keeps the last hour of a few series for the charts.
Counters stay monotonic across a worker's or store's restart: the figures of a process that was
replaced (another pid in its status file) are carried into a base the new one's are added to.
Pure observation: nothing here writes anywhere or feeds back into the run.
"""

from __future__ import annotations

import collections
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from gatherer.ops.snapshot import ConnectionStatus, StoreStatus, WorkerStatus, read_statuses

STALE_S = 10.0
"""A status file older than this (wall-clock seconds) means its process is stuck or gone."""
HISTORY_S = 3600.0
"""How far back the charts go."""
HISTORY_STEP_S = 2.0
"""One chart point per this many seconds (at most HISTORY_S / HISTORY_STEP_S points)."""
UP_STATES = frozenset({"registering", "streaming"})
"""Connection states that count as up (the connection is open)."""
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class RunFacts:
    """What only the supervisor knows, handed to ``Observer.sample``."""

    started_ns: int = 0
    now_ns: int = 0
    processes: dict[str, str] = field(default_factory=dict)
    """Worker id -> running, restarting or stopped (the supervisor's view of its child)."""
    pids: dict[str, int] = field(default_factory=dict)
    """Worker id -> pid of its running process: a status file of another pid is a dead one's."""
    registrations: int = 0
    """Registrations in the day's plan."""
    restarts: int = 0
    tokens: dict[int, int] = field(default_factory=dict)
    """App key index -> its token's expiry (ns, on the run's clock)."""
    backfill: dict[str, int] = field(default_factory=dict)
    """Backfill results so far by status, plus ``passes``, ``tried`` and ``deferred``."""
    errors: list[tuple[float, str]] = field(default_factory=list)
    idle: str | None = None
    """Why the whole run is deliberately idle (e.g. waiting for the open), or None."""
    stopping: bool = False
    """The run is stopping the orderly way (its workers are being stopped)."""


class MarketRate(msgspec.Struct, frozen=True):
    market: str
    channel: str
    frames_total: int
    fps: float


class WorkerRow(msgspec.Struct, frozen=True):
    worker_id: str
    process: str
    pid: int
    age_s: float
    """Seconds since its status file was written (-1: none yet)."""
    messages_total: int
    durable_lag_s: float
    store_lag_s: float
    store_lag_records: int
    rows_total: int
    connections: dict[str, int]
    """Connections by state."""
    reconnects_total: int
    disk_error: str | None


class Picture(msgspec.Struct, frozen=True):
    updated_s: float
    now_ns: int
    started_ns: int
    rates: list[MarketRate]
    workers: list[WorkerRow]
    frames: list[tuple[str, str, str, int]]
    """(market, channel, worker, data frames received in this run)."""
    connections: dict[str, int]
    registrations: dict[str, int]
    """planned, acknowledged, refused, unanswered."""
    quarantined: dict[str, int]
    gaps: dict[str, int]
    """found (by the stores in this run), open (found, not yet tried by a backfill pass), and the
    backfill's results by status, passes, tried, deferred."""
    disk: dict[str, int]
    """total, used, free bytes of the storage root's filesystem."""
    tokens: list[tuple[int, float]]
    """(app key number, seconds until its token expires)."""
    errors: list[tuple[float, str]]
    healthy: bool
    why: list[str]
    restarts: int = 0
    idle: str | None = None


class Point(msgspec.Struct, frozen=True, array_like=True):
    """One chart point: wall time, frames/s per market, the worst durable and store lags, connections up."""

    t: float
    fps: dict[str, float]
    durable_lag_s: float
    store_lag_s: float
    up: int


class _Carry:
    """Monotonic totals over the processes that take turns as one worker (or store)."""

    def __init__(self) -> None:
        self._pid: dict[str, int] = {}
        self._last: dict[str, dict[tuple[str, ...], int]] = {}
        self._base: dict[str, collections.Counter[tuple[str, ...]]] = {}

    def totals(self, source: str, pid: int, now: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
        base = self._base.setdefault(source, collections.Counter())
        if source in self._pid and self._pid[source] != pid:
            base.update(self._last.pop(source, {}))  # the process was replaced: keep what it counted
        self._pid[source] = pid
        self._last[source] = dict(now)
        out = collections.Counter(base)
        out.update(now)
        return dict(out)


class Observer:
    """Reads the status files of a run under ``root`` and makes its ``Picture``."""

    def __init__(self, root: Path, *, stale_s: float = STALE_S) -> None:
        self.root = root
        self.stale_s = stale_s
        self._carry = _Carry()
        self._prev: tuple[float, dict[tuple[str, str], int]] | None = None
        self._fps: dict[tuple[str, str], float] = {}
        self.history: collections.deque[Point] = collections.deque(maxlen=int(HISTORY_S / HISTORY_STEP_S))
        self.latest: Picture | None = None

    def sample(self, facts: RunFacts) -> Picture:
        workers, stores = read_statuses(self.root)
        now_s = time.time()
        rows, by_worker, quarantined, gaps_found = self._rows(facts, workers, stores, now_s)
        frames: collections.Counter[tuple[str, str]] = collections.Counter()
        for (market, channel, _w), n in by_worker.items():
            frames[(market, channel)] += n
        self._rates(frames, time.monotonic())
        conns: collections.Counter[str] = collections.Counter()
        regs = {"planned": facts.registrations, "acknowledged": 0, "refused": 0, "unanswered": 0}
        for w in workers.values():
            for c in w.connections:
                conns[c.state] += 1
                regs["acknowledged"] += c.accepted
                regs["refused"] += c.refused
                regs["unanswered"] += c.unanswered
        rates = [
            MarketRate(m, c, n, round(self._fps.get((m, c), 0.0), 1)) for (m, c), n in sorted(frames.items())
        ]
        tried = facts.backfill.get("tried", 0)
        gaps = {"found": gaps_found, "open": max(0, gaps_found - tried), **facts.backfill}
        errors = sorted(
            [*facts.errors, *((t, f"{w.worker_id}: {m}") for w in workers.values() for t, m in w.errors)]
        )[-20:]
        healthy, why = health(facts, workers, now_s, self.stale_s)
        picture = Picture(
            updated_s=now_s,
            now_ns=facts.now_ns,
            started_ns=facts.started_ns,
            rates=rates,
            frames=[(m, c, w, n) for (m, c, w), n in sorted(by_worker.items())],
            workers=rows,
            connections=dict(conns),
            registrations=regs,
            quarantined=quarantined,
            gaps=gaps,
            disk=_disk(self.root),
            tokens=[(k + 1, round((exp - facts.now_ns) / 1e9, 1)) for k, exp in sorted(facts.tokens.items())],
            errors=errors,
            healthy=healthy,
            why=why,
            restarts=facts.restarts,
            idle=facts.idle,
        )
        self._remember(picture, now_s)
        self.latest = picture
        return picture

    def _rows(
        self, facts: RunFacts, workers: dict[str, WorkerStatus], stores: dict[str, StoreStatus], now_s: float
    ) -> tuple[list[WorkerRow], dict[tuple[str, str, str], int], dict[str, int], int]:
        rows: list[WorkerRow] = []
        frames: collections.Counter[tuple[str, str, str]] = collections.Counter()
        quarantined: collections.Counter[str] = collections.Counter()
        gaps_found = 0
        for wid in sorted(set(facts.processes) | set(workers)):
            w, s = workers.get(wid), stores.get(wid)
            counts: dict[tuple[str, ...], int] = {}
            if w is not None:
                counts = {(m, c): n for m, c, n in w.frames}
                counts[("", "messages")] = sum(c.frames for c in w.connections)
                counts[("", "reconnects")] = sum(c.reconnects for c in w.connections)
                counts = self._carry.totals(wid, w.pid, counts)
            store: dict[tuple[str, ...], int] = {}
            if s is not None:
                store = {("rows",): s.rows, ("gaps",): s.gaps}
                store.update({("q", _reason(r)): n for r, n in s.quarantine_reasons.items()})
                store = self._carry.totals(f"{wid}/store", s.pid, store)
            for k, n in counts.items():
                if k[0]:
                    frames[(k[0], k[1], wid)] += n
            for k, n in store.items():
                if k[0] == "q":
                    quarantined[k[1]] += n
            gaps_found += store.get(("gaps",), 0)
            lag_s, lag_records = _store_lag(w, s)
            rows.append(
                WorkerRow(
                    worker_id=wid,
                    process=facts.processes.get(wid, "unknown"),
                    pid=w.pid if w is not None else 0,
                    age_s=round(now_s - w.updated_s, 1) if w is not None else -1.0,
                    messages_total=counts.get(("", "messages"), 0),
                    durable_lag_s=round(w.journal.durable_lag_s, 3) if w is not None else 0.0,
                    store_lag_s=lag_s,
                    store_lag_records=lag_records,
                    rows_total=store.get(("rows",), 0),
                    connections=dict(collections.Counter(c.state for c in w.connections)) if w else {},
                    reconnects_total=counts.get(("", "reconnects"), 0),
                    disk_error=w.journal.disk_error if w is not None else None,
                )
            )
        return rows, dict(frames), dict(quarantined), gaps_found

    def _rates(self, frames: dict[tuple[str, str], int], mono_s: float) -> None:
        if self._prev is not None and mono_s - self._prev[0] >= 0.5:
            then, before = self._prev
            self._fps = {k: max(0.0, (n - before.get(k, 0)) / (mono_s - then)) for k, n in frames.items()}
            self._prev = (mono_s, frames)
        elif self._prev is None:
            self._prev = (mono_s, frames)

    def _remember(self, p: Picture, now_s: float) -> None:
        if self.history and now_s - self.history[-1].t < HISTORY_STEP_S:
            return
        fps: dict[str, float] = {}
        for r in p.rates:
            fps[r.market] = round(fps.get(r.market, 0.0) + r.fps, 1)
        self.history.append(
            Point(
                t=round(now_s, 1),
                fps=fps,
                durable_lag_s=max((w.durable_lag_s for w in p.workers), default=0.0),
                store_lag_s=max((w.store_lag_s for w in p.workers), default=0.0),
                up=sum(n for s, n in p.connections.items() if s in UP_STATES),
            )
        )


def _reason(reason: str) -> str:
    """A quarantine reason as a label value: the decoder's constants; anything else is ``other``."""
    return reason if _REASON.match(reason) else "other"


def _store_lag(w: WorkerStatus | None, s: StoreStatus | None) -> tuple[float, int]:
    """How far the store's reading trails the journal: records, and the age of the last record it read
    when there is more to read (0 when it has read everything durable)."""
    if w is None or s is None:
        return 0.0, 0
    behind = max(0, w.journal.durable_seq - s.last_seq)
    if behind == 0 or s.last_recv_ns == 0:
        return 0.0, behind
    return round(max(0.0, (w.clock_ns - s.last_recv_ns) / 1e9), 3), behind


def _disk(root: Path) -> dict[str, int]:
    try:
        usage = shutil.disk_usage(root)
    except OSError:
        return {}
    return {"total": usage.total, "used": usage.used, "free": usage.free}


def health(
    facts: RunFacts, workers: dict[str, WorkerStatus], now_s: float, stale_s: float = STALE_S
) -> tuple[bool, list[str]]:
    """Healthy while every worker process runs, reports, and has every connection up (or has none:
    deliberately idle); else False and why, one line per problem."""
    if facts.idle is not None:
        return True, [f"idle: {facts.idle}"]
    if facts.stopping:
        return False, ["stopping: the workers are being stopped and their Parquet written"]
    why: list[str] = []
    for wid, process in sorted(facts.processes.items()):
        w = workers.get(wid)
        if process != "running":
            why.append(f"{wid}: worker process {process}")
        elif w is None or w.pid != facts.pids.get(wid, w.pid):
            why.append(f"{wid}: starting (no status yet)")
        elif now_s - w.updated_s > stale_s:
            why.append(f"{wid}: no status for {now_s - w.updated_s:.0f} s (stuck?)")
        else:
            why.extend(_connection_problems(w.connections))
            if w.journal.disk_error:
                why.append(f"{wid}: journal disk: {w.journal.disk_error}")
    if not facts.processes:
        why.append("no worker process")
    return not why, why


def _connection_problems(conns: Iterable[ConnectionStatus]) -> list[str]:
    return [
        f"{c.conn_id}: {c.state}" + (f" (last error: {c.last_error})" if c.last_error else "")
        for c in conns
        if c.state not in UP_STATES
    ]


__all__ = ["HISTORY_S", "MarketRate", "Observer", "Picture", "Point", "RunFacts", "WorkerRow", "health"]
