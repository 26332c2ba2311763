"""The worker processes of a run as the supervisor sees them: what each is given (its part of the
plan as a ``WorkerSpec``, the tokens of its app keys, an environment without secrets) and the handle
of the process currently running it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gatherer.clock import Clock, ScaledClock
from gatherer.config import Config
from gatherer.ops.status_page import TOKEN_ENV
from gatherer.plan.pack import ConnectionPlan, Plan
from gatherer.run.store_process import drain_store
from gatherer.run.worker_main import ConnectionSpec, WorkerReport, WorkerSpec
from gatherer.venues.ls.auth import without_secrets
from gatherer.venues.ls.hours import SessionWindows

log = logging.getLogger(__name__)


@dataclass
class WorkerHandle:
    """One planned worker and the process currently running it."""

    spec: WorkerSpec
    keys: frozenset[int]
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    started_at: float = 0.0
    """Event-loop time the current process was started (how long it ran healthy when it dies)."""
    reports: list[WorkerReport] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    drained: dict[str, object] | None = None
    """The figures of the store the supervisor ran on this worker's journal at the stop, when the
    worker's own store did not finish (``Supervisor._drain_leftovers``)."""


def _keys_of_one_worker(plan: Plan) -> None:
    """The packer keeps each app key's connections in one worker, so a worker paces its keys at the
    venue's rate per key; a key spread over processes would need its rate split between them."""
    workers: dict[int, set[int]] = {}
    for c in plan.connections:
        workers.setdefault(c.key_index, set()).add(c.worker)
    spread = sorted(k for k, w in workers.items() if len(w) > 1)
    if spread:
        raise ValueError(f"app key(s) {[k + 1 for k in spread]} planned on more than one worker process")


def worker_specs(
    cfg: Config,
    plan: Plan,
    clock: Clock | None = None,
    *,
    sessions: SessionWindows | None = None,
    session_groups: dict[str, str] | None = None,
) -> list[tuple[WorkerSpec, frozenset[int]]]:
    cutoffs = {m: mc.cutoff for m, mc in cfg.markets.items() if mc.cutoff is not None}
    _keys_of_one_worker(plan)
    out = []
    for worker, conns in sorted(plan.by_worker().items()):
        spec = WorkerSpec(
            worker_id=f"w{worker:02d}",
            ws_url=cfg.venue.ws_url,
            root=cfg.storage.root,
            venue=cfg.venue.rest_url,
            cutoffs=cutoffs,
            registrations_per_s=cfg.venue.registrations_per_s,  # per app key, each key in one worker
            connections=[_connection_spec(c) for c in conns],
            stall_s=cfg.venue.stall_timeout_s,
            reconnect_stagger_s=cfg.venue.reconnect_stagger_s,
            parquet_flush_s=cfg.storage.parquet_flush_s,
            clock=clock.spec if isinstance(clock, ScaledClock) else None,
            sessions=sessions,
            session_groups=_groups_of(conns, session_groups or {}),
        )
        out.append((spec, frozenset(c.key_index for c in conns)))
    return out


def _groups_of(conns: list[ConnectionPlan], groups: dict[str, str]) -> dict[str, str]:
    """The session groups of the overseas symbols these connections hold."""
    return {r.symbol: groups[r.symbol] for c in conns for r in c.registrations if r.symbol in groups}


def _connection_spec(c: ConnectionPlan) -> ConnectionSpec:
    return ConnectionSpec(
        key_index=c.key_index,
        registrations=[(r.market, r.channel, r.tr_cd, r.symbol) for r in c.registrations],
    )


def child_environment() -> dict[str, str]:
    """Our environment without the app keys and secrets (workers get tokens over their pipe) and
    without the status page's token (only the supervisor serves the page)."""
    env = without_secrets(os.environ)
    env.pop(TOKEN_ENV, None)
    return env


def spec_cutoffs(spec: WorkerSpec) -> dict[str, dt.time]:
    return {m: dt.time.fromisoformat(t) for m, t in spec.cutoffs.items()}


def default_workers() -> int:
    """One worker process per core."""
    return max(1, os.cpu_count() or 1)


async def drain_leftovers(handles: Sequence[WorkerHandle], log_flags: Sequence[str]) -> None:
    """Drain into Parquet the journal of every worker whose last process did not report a store
    that finished (it was killed, or cut short while starting): nothing journaled stays behind."""
    latest: dict[str, WorkerHandle] = {h.spec.worker_id: h for h in handles}
    for wid, h in sorted(latest.items()):
        report = h.reports[-1] if h.reports else None
        if report is not None and report.store and "failed" not in report.store:
            continue
        if not h.spec.decode:
            continue
        log.warning("%s ended without its decode-and-store finishing; draining its journal now", wid)
        h.drained = await drain_store(Path(h.spec.root), wid, h.spec.venue, spec_cutoffs(h.spec), log_flags)


def deaths_in_a_row(before: int, ran_s: float, healthy_s: float) -> int:
    """The count a worker's restart backoff goes by after it died having run ``ran_s``: one more than
    ``before``, or 1 if it had run healthy for ``healthy_s`` (an old streak says nothing any more)."""
    return 1 if ran_s >= healthy_s else before + 1
