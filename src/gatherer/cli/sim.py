"""The venue's side on the command line: ``sim`` runs the LS simulator, ``fault`` injects a fault
into a running one, ``replay`` serves recorded journal frames as an LS-compatible endpoint.

These commands serve; they never record. The simulator and the replay server are imported inside
each command, so ``gatherer --help`` does not load them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

from gatherer.cli.common import (
    AddCommand,
    _demo_day,
    _stop_on_signals,
    _stop_on_stdin_eof,
    console,
    ignore_stop_signals,
    out,
)
from gatherer.clock import SEOUL
from gatherer.errors import GathererError


def add_sim(add: AddCommand) -> None:
    s = add("sim", help="run the LS venue simulator (REST and WebSocket on one loopback port)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=0, help="port (default: a free one, printed at start)")
    s.add_argument("--seed", type=int, default=0, help="universe and market seed")
    s.add_argument("--appkey", help="accept only this app key (default: any)")
    s.add_argument("--appsecret", help="accept only this app secret (default: any)")
    s.add_argument(
        "--rate", type=float, default=2000.0, help="data frames/s at midday activity (default 2000)"
    )
    s.add_argument(
        "--start",
        help="simulated start, Asia/Seoul: 2026-11-25T08:55, or a time (09:00) on the latest KRX session",
    )
    s.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    s.add_argument("--max-connections", type=int, default=20, help="connections per app key")
    s.add_argument("--max-registrations", type=int, default=2000, help="registrations per connection")
    s.add_argument("--max-registration-rate", type=float, default=100.0, help="registrations/s per app key")
    s.add_argument(
        "--silent-past-limit",
        action="store_true",
        help="acknowledge registrations past --max-registrations but never stream them",
    )
    s.add_argument("--faults", help="comma-separated faults to inject in turn, e.g. drop,stall,malformed")
    s.add_argument("--fault-every", type=float, default=10.0, help="seconds between injected faults")
    s.add_argument("--rest-rate-scale", type=float, default=1.0, help="multiply LS's per-TR REST limits")
    s.add_argument("--exit-with-stdin", action="store_true", help="stop when standard input closes")
    s.set_defaults(func=_sim)


def add_fault(add: AddCommand) -> None:
    from gatherer.sim.state import FAULTS

    f = add("fault", help="inject a fault into a running simulator")
    f.add_argument("name", choices=FAULTS, metavar="NAME", help=", ".join(FAULTS))
    f.add_argument("--url", required=True, help="the simulator's rest_url, e.g. http://127.0.0.1:8080")
    f.add_argument("--conn", help="connection id (default: all)")
    f.add_argument("--count", type=int, default=1, help="how many frames/registrations/calls")
    f.add_argument("--tr", help="skip: only trade frames of this TR, e.g. S3_ (default: any trade TR)")
    f.add_argument("--key", help="skip: only frames of this tr_key, e.g. 005930 (default: any key)")
    f.set_defaults(func=_fault)


def add_replay(add: AddCommand) -> None:
    p_replay = add("replay", help="serve recorded frames as an LS-compatible endpoint")
    p_replay.add_argument(
        "journal", nargs="+", help="journal segments or directories (e.g. data/journal/date=…)"
    )
    p_replay.add_argument("--host", default="127.0.0.1")
    p_replay.add_argument("--port", type=int, default=0, help="port (default: a free one, printed at start)")
    p_replay.add_argument(
        "--speed", type=float, default=1.0, help="1 = as recorded, 10 = ten times faster, 0 = max"
    )
    p_replay.add_argument("--exit-when-done", action="store_true", help="stop after the last frame")
    p_replay.set_defaults(func=_replay)


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
        when = dt.datetime.combine(_demo_day(), t)  # a time of day: on the latest KRX session
    return when if when.tzinfo else when.replace(tzinfo=SEOUL)


async def _sim(args: argparse.Namespace) -> int:
    from gatherer.clock import ScaledClock
    from gatherer.sim.server import SimSettings, Simulator
    from gatherer.sim.state import FAULTS, Credentials, VenueLimits
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
            rest_rate_scale=args.rest_rate_scale,
            silent_past_limit=args.silent_past_limit,
        ),
        stream=StreamSettings(rate_fps=args.rate),
        start=await asyncio.to_thread(_parse_start, args.start),
        speed=args.speed,
    )
    if args.exit_with_stdin:
        # A child of `gatherer demo` or a benchmark: its parent decides when it ends (it closes our
        # standard input), so Ctrl-C in the terminal or a stop by systemd does not cut the venue away
        # under a collector that is still stopping.
        ignore_stop_signals()
        stop = asyncio.Event()
        _stop_on_stdin_eof(stop)
    else:
        stop = _stop_on_signals()
    async with Simulator(settings) as sim:
        out.print(f"LS simulator ready\n  rest_url = {sim.rest_url}\n  ws_url   = {sim.ws_url}")
        assert isinstance(sim.clock, ScaledClock)  # a simulator of its own clock always has one
        out.print(f"  clock    = {sim.clock.spec}")
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

    payload = {
        "fault": args.name,
        "conn_id": args.conn,
        "count": args.count,
        "tr_cd": args.tr,
        "tr_key": args.key,
    }
    url = f"{args.url.rstrip('/')}/_sim/fault"
    try:
        async with aiohttp.ClientSession() as http, http.post(url, json=payload) as resp:
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        raise GathererError(
            f"cannot reach a simulator at {args.url} ({type(exc).__name__}); is `gatherer sim` running there?"
            " Give the rest_url it printed"
        ) from exc
    if not isinstance(body, dict):
        raise GathererError(f"{args.url} answered HTTP {resp.status} without a simulator's reply")
    if resp.status != 200:
        raise GathererError(str(body.get("error", body)))
    out.print(f"fault {args.name}: affected {body['affected']}")
    return 0


async def _replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gatherer.run.replay import ReplayServer

    stop = _stop_on_signals()
    server = ReplayServer([Path(p) for p in args.journal], speed=args.speed, host=args.host, port=args.port)
    async with server:
        out.print(f"replaying {', '.join(args.journal)} at speed {args.speed:g}")
        out.print(f"  rest_url = {server.rest_url}\n  ws_url   = {server.ws_url}")
        sys.stdout.flush()
        waits = {asyncio.ensure_future(stop.wait())}
        if args.exit_when_done:
            waits.add(asyncio.ensure_future(server.finished.wait()))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        console.print(f"{server.frames_read:,} frames read, {server.frames_sent:,} sent")
    return 0
