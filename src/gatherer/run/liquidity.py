"""``[plan] priority = "liquidity"`` wired: yesterday's traded values fetched (t8407) and cached per
trading day when the selection does not fit, and the selection cut to fit by them
(``plan.priority``) before packing, in `gatherer run` and `gatherer plan` alike."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from gatherer.clock import Clock, trading_day_of
from gatherer.config import Config
from gatherer.errors import ApiError
from gatherer.plan import Selection, select_with_notes
from gatherer.plan.pack import KRX_MARKETS
from gatherer.plan.priority import prioritize, values_key, values_of
from gatherer.plan.shard import shard_selection
from gatherer.sinks.masters import master_path, write_master
from gatherer.venues.ls.liquidity import fetch_values
from gatherer.venues.ls.rest import RestClient

RANKED = ("kospi", "kosdaq")
"""Markets with traded values (t8407 serves stocks)."""


def held(cfg: Config, app_keys: int) -> int:
    """Registrations the app keys hold: keys × connections per key × registrations per connection."""
    return app_keys * cfg.venue.connections_per_key * cfg.venue.registrations_per_connection


def capacity(cfg: Config, app_keys: int, workers: int) -> int:
    """What a cut selection may keep: what the keys hold, less one per worker process for the
    market-status feed (JIF) when a KRX market is recorded, so that a cut plan still leaves its
    watchdog the exchange's word (``plan.pack.with_market_status``). A selection that fits what the
    keys hold is not cut (JIF then goes where there is room, as before)."""
    krx = any(m in KRX_MARKETS for m in cfg.markets)
    return max(0, held(cfg, app_keys) - (min(app_keys, workers) if krx else 0))


def select_day(cfg: Config, tables: dict[str, pa.Table], *, app_keys: int, workers: int) -> Selection:
    """The config's selection; with ``priority = "liquidity"``, cut when it exceeds what the keys hold."""
    selection = select_with_notes(cfg, tables)
    if cfg.run.shard is not None:  # this host's part first: its own app keys hold it
        selection = shard_selection(selection, cfg.run.shard)
    if cfg.plan.priority != "liquidity" or len(selection.registrations) <= held(cfg, app_keys):
        return selection
    values = {m: v for m in cfg.markets if (v := values_of(tables, m)) is not None}
    return prioritize(selection, capacity(cfg, app_keys, workers), values)


def _cached(root: str, day: dt.date, market: str, codes: list[str]) -> pa.Table | None:
    path = master_path(root, day, values_key(market))
    if not path.exists():
        return None
    table = pq.read_table(path)
    return table if set(codes) <= set(table.column("symbol").to_pylist()) else None


async def fetch_values_if_short(
    client: RestClient,
    cfg: Config,
    clock: Clock,
    tables: dict[str, pa.Table],
    *,
    app_keys: int,
    workers: int,
    say: Callable[[str], None],
    store: bool = True,
) -> None:
    """When ``priority = "liquidity"`` and the selection does not fit: each stock market's values
    for its selected codes into ``tables`` (``<market>.values``), from today's cache under
    ``masters/`` or from t8407 (then cached, unless ``store`` is False)."""
    if cfg.plan.priority != "liquidity":
        return
    selection = select_with_notes(cfg, tables)
    if cfg.run.shard is not None:
        selection = shard_selection(selection, cfg.run.shard)
    if len(selection.registrations) <= held(cfg, app_keys):
        return
    day = trading_day_of(clock.time_ns())
    for market in (m for m in RANKED if m in cfg.markets):
        codes = list(dict.fromkeys(r.symbol for r in selection.registrations if r.market == market))
        table = await asyncio.to_thread(_cached, cfg.storage.root, day, market, codes)
        if table is None:
            say(f"the selection does not fit: fetching {len(codes):,} {market} codes' traded values (t8407)")
            try:
                table = await fetch_values(client, market, codes)
            except ApiError as exc:
                say(f"{market}: traded values unavailable ({exc}); its codes are ranked in code order")
                continue
            if store:
                await asyncio.to_thread(write_master, Path(cfg.storage.root), day, values_key(market), table)
        tables[values_key(market)] = table
