"""The ``gatherer`` command line: the only place that calls ``asyncio.run``.

Each subcommand parses its flags, builds what it needs and runs one coroutine. Bad
input ends with a one-line message naming what was wrong and what to do, and exit
status 2; nothing prints a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from gatherer import __version__
from gatherer.clock import SEOUL
from gatherer.errors import GathererError

console = Console(stderr=True)
out = Console()


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.run(coro)
    return uvloop.run(coro)


# -- sim ---------------------------------------------------------------------------------


def _parse_start(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            t = dt.time.fromisoformat(text)
        except ValueError as exc:
            raise GathererError(
                f"--start {text!r}: expected an ISO date-time (2026-11-25T09:00) or a time of day (09:00)"
            ) from exc
        when = dt.datetime.combine(dt.datetime.now(tz=SEOUL).date(), t)
    return when if when.tzinfo else when.replace(tzinfo=SEOUL)


async def _sim(args: argparse.Namespace) -> int:
    from gatherer.sim.server import FAULTS, SimSettings, Simulator
    from gatherer.sim.state import Credentials, VenueLimits
    from gatherer.sim.ws_api import StreamSettings

    if (args.appkey is None) != (args.appsecret is None):
        raise GathererError("--appkey and --appsecret go together: give both or neither")
    faults = [f for f in (args.faults or "").split(",") if f]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise GathererError(f"--faults: unknown {unknown}; expected some of {', '.join(FAULTS)}")
    settings = SimSettings(
        host=args.host,
        port=args.port,
        seed=args.seed,
        credentials=Credentials(args.appkey, args.appsecret) if args.appkey else None,
        limits=VenueLimits(
            connections_per_key=args.max_connections,
            registrations_per_connection=args.max_registrations,
            registrations_per_s=args.max_registration_rate,
        ),
        stream=StreamSettings(rate_fps=args.rate),
        start=_parse_start(args.start),
        speed=args.speed,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Simulator(settings) as sim:
        out.print(f"LS simulator ready\n  rest_url = {sim.rest_url}\n  ws_url   = {sim.ws_url}")
        out.print(
            f"  faults   = POST {sim.rest_url}/_sim/fault  (or: gatherer fault NAME --url {sim.rest_url})"
        )
        sys.stdout.flush()
        index = 0
        while not stop.is_set():
            timeout = args.fault_every if faults else None
            try:
                await asyncio.wait_for(stop.wait(), timeout)
            except TimeoutError:
                name = faults[index % len(faults)]
                index += 1
                n = sim.inject(name)
                console.print(f"fault {name}: affected {n}")
    return 0


async def _fault(args: argparse.Namespace) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        payload = {"fault": args.name, "conn_id": args.conn, "count": args.count}
        async with http.post(f"{args.url.rstrip('/')}/_sim/fault", json=payload) as resp:
            body = await resp.json()
    if resp.status != 200:
        raise GathererError(str(body.get("error", body)))
    out.print(f"fault {args.name}: affected {body['affected']}")
    return 0


# -- symbols -----------------------------------------------------------------------------


async def _symbols(args: argparse.Namespace) -> int:
    from gatherer.config import Config, load_config
    from gatherer.venues.ls.auth import credentials_from_env
    from gatherer.venues.ls.masters import fetch_master
    from gatherer.venues.ls.rest import RestClient

    cfg = load_config(args.config) if args.config else Config()
    credentials = credentials_from_env(os.environ)
    async with RestClient.open(cfg.venue.rest_url, credentials) as client:
        table = await fetch_master(client, args.market)
    if args.format == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sys.stdout.buffer)
        return 0
    rows = table.to_pylist()
    if args.format == "json":
        for row in rows:
            out.print(json.dumps(row, ensure_ascii=False, default=str), highlight=False, soft_wrap=True)
        return 0
    shown = rows[: args.limit] if args.limit else rows
    view = Table(title=f"{args.market}: {table.num_rows:,} instruments", show_lines=False)
    columns = [c for c in table.column_names if c != "market"][:8]
    for c in columns:
        view.add_column(c)
    for row in shown:
        view.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    out.print(view)
    if len(shown) < len(rows):
        console.print(
            f"showing {len(shown)} of {len(rows):,}; --limit 0 shows all, --format csv for everything"
        )
    return 0


# -- config ------------------------------------------------------------------------------


async def _config_check(args: argparse.Namespace) -> int:
    from gatherer.config import effective, load_config
    from gatherer.venues.ls.auth import credentials_from_env

    cfg = load_config(args.config)
    out.print_json(data=effective(cfg))
    try:
        credentials_from_env(os.environ)
        console.print("credentials: found in the environment (not shown)")
    except GathererError as exc:
        console.print(f"credentials: {exc}")
    return 0


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from gatherer.config import MARKETS

    p = argparse.ArgumentParser(prog="gatherer", description="Record the Korean market from the LS Open API.")
    p.add_argument("--version", action="version", version=f"gatherer {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("sim", help="run the LS venue simulator (REST and WebSocket on one loopback port)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=0, help="port (default: a free one, printed at start)")
    s.add_argument("--seed", type=int, default=0, help="universe and market seed")
    s.add_argument("--appkey", help="accept only this app key (default: any)")
    s.add_argument("--appsecret", help="accept only this app secret (default: any)")
    s.add_argument(
        "--rate", type=float, default=2000.0, help="data frames/s at midday activity (default 2000)"
    )
    s.add_argument("--start", help="simulated start time, e.g. 09:00 or 2026-11-25T08:55 (Asia/Seoul)")
    s.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    s.add_argument("--max-connections", type=int, default=20, help="connections per app key")
    s.add_argument("--max-registrations", type=int, default=2000, help="registrations per connection")
    s.add_argument("--max-registration-rate", type=float, default=100.0, help="registrations/s per app key")
    s.add_argument("--faults", help="comma-separated faults to inject in turn, e.g. drop,stall,malformed")
    s.add_argument("--fault-every", type=float, default=10.0, help="seconds between injected faults")
    s.set_defaults(func=_sim)

    f = sub.add_parser("fault", help="inject a fault into a running simulator")
    f.add_argument("name", help="drop, stall, unstall, malformed, refuse, expire-token, rest-rate-limit")
    f.add_argument("--url", required=True, help="the simulator's rest_url, e.g. http://127.0.0.1:8080")
    f.add_argument("--conn", help="connection id (default: all)")
    f.add_argument("--count", type=int, default=1, help="how many frames/registrations/calls")
    f.set_defaults(func=_fault)

    y = sub.add_parser("symbols", help="print a market's symbol master from the venue")
    y.add_argument("--market", required=True, choices=MARKETS)
    y.add_argument("--config", help="TOML config; its [venue] says where to ask (default: LS's servers)")
    y.add_argument("--format", choices=("table", "csv", "json"), default="table")
    y.add_argument("--limit", type=int, default=20, help="rows shown in the table (0 = all)")
    y.set_defaults(func=_symbols)

    c = sub.add_parser("config", help="configuration tools")
    csub = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    cc = csub.add_parser("check", help="validate a config and print it with defaults filled in")
    cc.add_argument("config", help="path of the TOML file")
    cc.set_defaults(func=_config_check)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run(args.func(args))
    except GathererError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
