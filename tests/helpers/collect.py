"""One worker recording in the test's own process: what a `gatherer run` worker does (masters, plan,
then ``run.pipeline.record``: connections -> journal, and the store child following it), with its
live connection figures at hand for the test to wait on.

The product wires a worker in ``run.worker_main`` through the same ``run.pipeline.record``; this
only skips the supervisor and the worker process around it, so a test can watch the connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatherer.capture import JournalSettings
from gatherer.clock import Clock
from gatherer.config import Config
from gatherer.plan import Registration
from gatherer.run.pipeline import Recorded, StoreArgs, record
from gatherer.run.prepare import fetch_masters, plan_day, rest_client, retain
from gatherer.run.recorder import ConnectionStats
from gatherer.run.sessions import load_windows, symbol_groups
from gatherer.run.worker import Worker, WorkerSettings
from gatherer.venues.ls.auth import Credentials


@dataclass
class RunResult:
    """What a run did, for the test's assertions."""

    root: Path
    registrations: list[Registration]
    masters: dict[str, int] = field(default_factory=dict)
    """market -> instruments in the master."""
    connections: list[ConnectionStats] = field(default_factory=list)
    first_seq: int = 0
    end_seq: int = 0
    store: dict[str, Any] = field(default_factory=dict)
    """What the decode-and-store process reported: records, rows, quarantined, files, ..."""
    started_ns: int = 0
    ended_ns: int = 0


async def collect(
    cfg: Config,
    credentials: Credentials,
    stop: asyncio.Event,
    *,
    clock: Clock,
    worker_id: str = "w00",
    journal_settings: JournalSettings | None = None,
    on_start: Callable[[RunResult], None] | None = None,
    decode: bool = True,
) -> RunResult:
    """Record until ``stop`` is set, one app key, one worker, on ``clock``."""
    root = Path(cfg.storage.root)
    await retain(cfg, clock, lambda _msg: None)
    async with rest_client(cfg, credentials, clock) as client:
        result = RunResult(root=root, registrations=[], started_ns=clock.time_ns())
        tables = await fetch_masters(client, cfg, clock, lambda _msg: None)
        result.masters = {m: t.num_rows for m, t in tables.items()}
        selection, plan = plan_day(cfg, tables, app_keys=1, workers=1, say=lambda _msg: None)
        result.registrations = selection.registrations

        async def token(_key_index: int) -> str:
            return (await client.token()).access_token

        def started(_worker: Worker, done: Recorded) -> None:
            result.first_seq, result.connections = done.first_seq, done.connections
            if on_start is not None:
                on_start(result)

        cutoffs = cfg.cutoffs()
        done = await record(
            root,
            WorkerSettings(
                stall_s=cfg.venue.stall_timeout_s,
                worker_id=worker_id,
                registrations_per_s=cfg.venue.registrations_per_s,
                reconnect_stagger_s=cfg.venue.reconnect_stagger_s,
            ),
            ws_url=cfg.venue.ws_url,
            groups=[c.registrations for c in plan.connections],
            keys=[c.key_index for c in plan.connections],
            token=token,
            clock=clock,
            stop=stop,
            store=StoreArgs(cfg.venue.rest_url, cutoffs, cfg.storage.parquet_flush_s) if decode else None,
            sessions=await load_windows(clock.time_ns()),  # in a thread, before the first connection
            session_groups=symbol_groups(tables),
            journal_settings=journal_settings,
            on_start=started,
        )
        result.end_seq, result.store, result.ended_ns = done.end_seq, done.store, clock.time_ns()
    return result
