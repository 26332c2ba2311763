"""``gatherer run``: one worker from config to journal.

Gets a token, fetches the masters of the configured markets (and stores them for the
day), selects the registrations, splits them into connections within the venue
limits of the config, opens the journal and runs the worker until ``stop`` is set.
Then it closes the connections, flushes and fsyncs the journal and revokes the token.

This is the only place besides ``cli`` that wires stages together.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatherer.capture import Journal, JournalSettings
from gatherer.clock import Clock, SystemClock, trading_day_of
from gatherer.config import Config
from gatherer.plan import Registration
from gatherer.run.prepare import Progress, fetch_masters, plan_day, rest_client, retain
from gatherer.run.sessions import load_windows, symbol_groups
from gatherer.run.store_process import finish_store, start_store
from gatherer.run.worker import ConnectionStats, Worker, WorkerSettings
from gatherer.venues.ls.auth import Credentials

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a run did, for the summary."""

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
    clock: Clock | None = None,
    worker_id: str = "w00",
    journal_settings: JournalSettings | None = None,
    progress: Progress | None = None,
    duration_s: float | None = None,
    on_start: Callable[[RunResult], None] | None = None,
    decode: bool = True,
) -> RunResult:
    """Record until ``stop`` is set, or for ``duration_s`` seconds once the connections start."""
    clock = clock or SystemClock()
    say = progress or (lambda _msg: None)
    root = Path(cfg.storage.root)
    await retain(cfg, clock, say)
    async with rest_client(cfg, credentials, clock) as client:
        result = RunResult(root=root, registrations=[], started_ns=clock.time_ns())
        tables = await fetch_masters(client, cfg, clock, say)
        result.masters = {m: t.num_rows for m, t in tables.items()}
        selection, plan = plan_day(cfg, tables, app_keys=1, workers=1, say=say)
        result.registrations = selection.registrations
        groups = [list(c.registrations) for c in plan.connections]
        say(f"{len(result.registrations):,} registrations on {len(groups)} connection(s)")

        async def token(_key_index: int) -> str:
            return (await client.token()).access_token

        windows = await load_windows(clock.time_ns())  # in a thread, before the first connection
        journal = await Journal.open(root, worker_id, settings=journal_settings, clock=clock)
        result.first_seq = journal.next_seq
        cutoffs = {m: mc.cutoff_time() for m, mc in cfg.markets.items()}
        store = (
            await start_store(root, worker_id, cfg.venue.rest_url, cutoffs, cfg.storage.parquet_flush_s)
            if decode
            else None
        )
        try:
            worker = Worker(
                ws_url=cfg.venue.ws_url,
                token=token,
                journal=journal,
                groups=groups,
                clock=clock,
                sessions=windows,
                session_groups=symbol_groups(tables),
                settings=WorkerSettings(
                    stall_s=cfg.venue.stall_timeout_s,
                    worker_id=worker_id,
                    registrations_per_s=cfg.venue.registrations_per_s,
                    reconnect_stagger_s=cfg.venue.reconnect_stagger_s,
                ),
            )
            result.connections = worker.stats
            if on_start is not None:
                on_start(result)
            say("recording; stop with Ctrl-C" + (f" or wait {duration_s:g} s" if duration_s else ""))
            timer = asyncio.create_task(_stop_after(stop, duration_s))
            try:
                await worker.run(stop)
            finally:
                timer.cancel()
        finally:
            result.end_seq = journal.next_seq
            try:
                await journal.close()
            finally:
                if store is not None:
                    say("writing the last Parquet files")
                    result.store = await finish_store(store)
            result.ended_ns = clock.time_ns()
    return result


def journal_dirs(root: Path, started_ns: int, ended_ns: int) -> list[Path]:
    """The journal day directories a run between the two times may have written to."""
    first, last = trading_day_of(started_ns), trading_day_of(ended_ns)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [p for p in (root / "journal" / f"date={d.isoformat()}" for d in days) if p.exists()]


async def _stop_after(stop: asyncio.Event, duration_s: float | None) -> None:
    if duration_s is None:
        return
    try:
        await asyncio.wait_for(stop.wait(), duration_s)
    except TimeoutError:
        stop.set()
