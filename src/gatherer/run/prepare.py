"""What every run does before it subscribes: retention, a REST client, the day's masters, a plan.

Shared by the supervisor (`gatherer run`, `gatherer plan`) and the in-process collector, so
they fetch, select and pack the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pyarrow as pa

from gatherer.clock import Clock, trading_day_of
from gatherer.config import Config
from gatherer.errors import ConfigError
from gatherer.plan import Limits, Plan, Selection, explain, pack
from gatherer.plan.select import night_master_key
from gatherer.run.liquidity import select_day
from gatherer.run.retention import apply_retention
from gatherer.sinks.masters import write_master
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.masters import fetch_master, fetch_night_master
from gatherer.venues.ls.ratelimit import TR_LIMITS, with_overrides
from gatherer.venues.ls.rest import RestClient

Progress = Callable[[str], None]


async def retain(cfg: Config, clock: Clock, say: Progress) -> None:
    """Apply ``storage.journal_keep_days``, if set."""
    if cfg.storage.journal_keep_days is None:
        return
    report = await asyncio.to_thread(
        apply_retention, Path(cfg.storage.root), cfg.storage.journal_keep_days, clock, bus=cfg.bus is not None
    )
    if report.removed or report.kept_unverified:
        removed, kept = len(report.removed), len(report.kept_unverified)
        say(f"journal retention: removed {removed} day(s), kept {kept} unverified")


@contextlib.asynccontextmanager
async def rest_client(cfg: Config, credentials: Credentials, clock: Clock) -> AsyncIterator[RestClient]:
    """A REST client for the configured venue, paced at LS's per-TR limits x ``venue.rest_rate_scale``."""
    limits = with_overrides(TR_LIMITS, scale=cfg.venue.rest_rate_scale)
    async with RestClient.open(cfg.venue.rest_url, credentials, clock=clock, limits=limits) as client:
        yield client


async def fetch_masters(
    client: RestClient, cfg: Config, clock: Clock, say: Progress, *, store: bool = True
) -> dict[str, pa.Table]:
    """The configured markets' masters; stored for the trading day unless ``store`` is False."""
    day = trading_day_of(clock.time_ns())
    tables: dict[str, pa.Table] = {}
    for i, market in enumerate(cfg.markets, 1):
        say(f"fetching the {market} master ({i} of {len(cfg.markets)})")
        tables[market] = await fetch_master(client, market)
        if store:
            await asyncio.to_thread(write_master, cfg.storage.root, day, market, tables[market])
        if "night" in cfg.markets[market].sessions:
            say(f"fetching the {market} night-session master (t8455)")
            night = night_master_key(market)
            tables[night] = await fetch_night_master(client, market)
            if store:
                await asyncio.to_thread(write_master, cfg.storage.root, day, night, tables[night])
    return tables


def venue_limits(cfg: Config, workers: int) -> Limits:
    v = cfg.venue
    return Limits(
        v.connections_per_key,
        v.registrations_per_connection,
        v.registrations_per_s,
        workers=workers,
        reconnect_stagger_s=v.reconnect_stagger_s,
    )


def plan_day(
    cfg: Config, tables: dict[str, pa.Table], *, app_keys: int, workers: int, say: Progress
) -> tuple[Selection, Plan]:
    """Select (this host's shard, ``run.shard``; cut to fit by liquidity, ``[plan] priority``) and
    pack; a plan that does not fit is a ConfigError saying what to change."""
    selection = select_day(cfg, tables, app_keys=app_keys, workers=workers)
    for note in selection.notes:
        say(note)
    plan = pack(selection.registrations, app_keys=app_keys, limits=venue_limits(cfg, workers))
    if not plan.fits:
        raise ConfigError("the selection does not fit the venue limits:\n" + explain(selection, plan))
    return selection, plan
