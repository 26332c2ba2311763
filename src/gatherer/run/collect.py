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

import pyarrow as pa

from gatherer.capture import Journal, JournalSettings
from gatherer.clock import Clock, SystemClock, trading_day_of
from gatherer.config import Config
from gatherer.errors import ConfigError
from gatherer.plan import Limits, Registration, Selection, explain, pack, select_with_notes
from gatherer.run.retention import apply_retention
from gatherer.run.store import finish_store, start_store
from gatherer.run.worker import ConnectionStats, Worker, WorkerSettings
from gatherer.sinks.masters import write_master
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.masters import fetch_master
from gatherer.venues.ls.ratelimit import TR_LIMITS, with_overrides
from gatherer.venues.ls.rest import RestClient

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


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


def plan_connections(cfg: Config, selection: Selection) -> list[list[Registration]]:
    """One app key, one worker: the connections, or a ConfigError saying what does not fit and why."""
    v = cfg.venue
    limits = Limits(v.connections_per_key, v.registrations_per_connection, v.registrations_per_s, workers=1)
    plan = pack(selection.registrations, app_keys=1, limits=limits)
    if not plan.fits:
        raise ConfigError("the selection does not fit the venue limits:\n" + explain(selection, plan))
    return [list(c.registrations) for c in plan.connections]


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
    if cfg.storage.journal_keep_days is not None:
        report = await asyncio.to_thread(apply_retention, root, cfg.storage.journal_keep_days, clock)
        if report.removed or report.kept_unverified:
            say(f"journal retention: removed {len(report.removed)} day(s), kept {len(report.kept_unverified)}"
                " unverified")  # fmt: skip
    limits = with_overrides(TR_LIMITS, scale=cfg.venue.rest_rate_scale)
    async with RestClient.open(cfg.venue.rest_url, credentials, clock=clock, limits=limits) as client:
        day = trading_day_of(clock.time_ns())
        tables: dict[str, pa.Table] = {}
        result = RunResult(root=root, registrations=[], started_ns=clock.time_ns())
        for market in cfg.markets:
            say(f"fetching the {market} master")
            table = await fetch_master(client, market)
            await asyncio.to_thread(write_master, root, day, market, table)
            tables[market] = table
            result.masters[market] = table.num_rows
        selection = select_with_notes(cfg, tables)
        for note in selection.notes:
            say(note)
        result.registrations = selection.registrations
        groups = plan_connections(cfg, selection)
        say(f"{len(result.registrations):,} registrations on {len(groups)} connection(s)")

        async def token(_key_index: int) -> str:
            return (await client.token()).access_token

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
                settings=WorkerSettings(
                    stall_s=cfg.venue.stall_timeout_s,
                    worker_id=worker_id,
                    registrations_per_s=cfg.venue.registrations_per_s,
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
