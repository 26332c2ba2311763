"""``gatherer probe-limits``: measure one app key's venue limits (``run.probe``) and write them where
`gatherer plan` and `gatherer run` find them (``run.limits``)."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from gatherer.cli.common import AddCommand, _clock_of, console, out
from gatherer.errors import GathererError


def add_probe(add: AddCommand) -> None:
    p = add(
        "probe-limits",
        help="measure how many connections, registrations and registrations/s one app key gets",
    )
    p.add_argument("--config", required=True, help="TOML config: the venue, and the markets to register")
    p.add_argument(
        "--out", help="where to write the limits (default: <storage.root>/state/venue-limits.json)"
    )
    p.add_argument(
        "--now", action="store_true", help="run even while a KRX market trades (default: off-hours only)"
    )
    p.add_argument("--clock", help="a simulator's clock (the `clock =` line `gatherer sim` prints)")
    p.add_argument("--watch-s", type=float, default=20.0, help="listen this long for silent registrations")
    p.add_argument("--max-connections", type=int, default=20, help="connections tried at most")
    p.add_argument(
        "--max-registrations", type=int, default=3000, help="registrations tried on one connection"
    )
    p.add_argument(
        "--rate-burst", type=int, default=300, help="requests in the rate burst (the most it can find)"
    )
    p.set_defaults(func=_probe)


def _krx_open(now_ns: int, night: bool) -> list[str]:
    """The KRX session groups trading now: the day markets, and the night session when the config
    records it (a recording the probe would compete with)."""
    from gatherer.run.sessions import span_of
    from gatherer.venues.ls.hours import KRX_MARKETS, session_windows

    groups = [*KRX_MARKETS, "knight"] if night else list(KRX_MARKETS)
    first, last = span_of(now_ns)
    windows = session_windows(first, last, groups)
    return [g for g in groups if windows.is_open(g, now_ns)]


async def _probe(args: argparse.Namespace) -> int:
    from gatherer.clock import SystemClock
    from gatherer.config import load_config
    from gatherer.plan import select_with_notes
    from gatherer.run.prepare import fetch_masters, rest_client
    from gatherer.run.probe import ProbeSettings, limits_path, probe, write_measured
    from gatherer.venues.ls.auth import credentials_list_from_env

    cfg = load_config(args.config)
    if not cfg.markets:
        raise GathererError(
            f"{args.config}: no [markets.*] table; the probe registers the config's selection"
        )
    for name in ("watch_s", "max_connections", "max_registrations", "rate_burst"):
        if getattr(args, name) <= 0:
            raise GathererError(f"--{name.replace('_', '-')} {getattr(args, name)}: give a number above 0")
    clock = _clock_of(args.clock) or SystemClock()
    night = any("night" in mc.sessions for mc in cfg.markets.values())
    trading = await asyncio.to_thread(_krx_open, clock.time_ns(), night)
    if trading and not args.now:
        raise GathererError(
            f"{', '.join(trading)} trade(s) now: probe-limits runs off-hours so that it does not compete"
            " with a recording on the same account; run it later or pass --now"
        )
    credentials = credentials_list_from_env(os.environ)[0]
    say = console.print
    async with rest_client(cfg, credentials, clock) as client:
        tables = await fetch_masters(client, cfg, clock, say, store=False)
        registrations = select_with_notes(cfg, tables).registrations
        token = (await client.token()).access_token
        settings = ProbeSettings(
            max_connections=args.max_connections,
            max_registrations=args.max_registrations,
            rate_burst=args.rate_burst,
            watch_s=args.watch_s,
        )
        measured = await probe(
            cfg.venue.ws_url, token, registrations, clock, settings, say,
            fallback_per_s=cfg.venue.registrations_per_s,
        )  # fmt: skip
    path = Path(args.out) if args.out else limits_path(cfg.storage.root)
    await asyncio.to_thread(write_measured, path, measured)
    for name in ("connections_per_key", "registrations_per_connection", "registrations_per_s"):
        value = getattr(measured, name)
        out.print(f"{name} = {'not found' if value is None else f'{value:g}'}")
    for note in measured.notes:
        out.print(f"note: {note}")
    out.print(
        f"written to {path}; `gatherer plan` and `gatherer run` use it for the limits the config leaves unset"
    )
    return 0
