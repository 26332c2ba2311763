"""bench/plan: the whole market through the supervisor and its workers.

Two parts, each against a simulator child process with the full universe of all six markets:
- registration, plan vs measured: examples/full-market.toml as it is (96 app keys, 3
  connections x 200 registrations and 20 registrations/s per key, 8 workers) against a simulator
  enforcing exactly those limits; what `gatherer plan` says registering takes against what each
  key took (its first connection up to its last acknowledgement, from the journals), then the
  same after the simulator drops every connection at once;
- throughput and memory: limits of 20 connections x 1,000 registrations per app key, three app
  keys and two worker processes. Reported: time from start to fully subscribed (every
  registration acknowledged), worker memory per 1,000 subscriptions (the slope between a small
  and the full universe), and frames/s across all workers afterwards.
Run: `make bench` or `python -m bench.plan`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import msgspec
import uvloop

from bench.common import record, rss_mb
from gatherer.capture import Kind, iter_records
from gatherer.clock import ScaledClock
from gatherer.config import Config, MarketConfig, StorageConfig, VenueConfig, load_config
from gatherer.plan.pack import Plan
from gatherer.run.supervisor import Supervisor
from gatherer.sim.process import start_sim_process, stop_sim_process
from gatherer.venues.ls.auth import Credentials

MARKETS = ("kospi", "kosdaq", "kfutures", "koptions", "ofutures", "ooptions")
KEYS = [Credentials(f"bench-key-{i}", f"bench-secret-{i}") for i in range(3)]
FULL_MARKET = Path(__file__).parent.parent / "examples" / "full-market.toml"
FULL_MARKET_KEYS = 96  # as the example says


async def sim_status(http: aiohttp.ClientSession, rest_url: str) -> dict[str, int]:
    async with http.get(f"{rest_url}/_sim/status", timeout=aiohttp.ClientTimeout(total=60)) as resp:
        data: dict[str, int] = await resp.json()
    return data


async def wait_for(cond: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await cond():
        if time.monotonic() > deadline:
            raise TimeoutError("not reached in time")
        await asyncio.sleep(0.2)


def registering_s(root: Path, plan: Plan, after_ns: int, before_ns: int) -> list[float]:
    """Per app key: from its first `connected` to its last accepted ack between the two times."""
    key_of = {
        f"w{w:02d}-c{i:03d}": c.key_index
        for w, conns in sorted(plan.by_worker().items())
        for i, c in enumerate(conns)
    }
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for r in iter_records(root / "journal"):
        if not after_ns < r.recv_ns < before_ns:
            continue
        if r.kind == Kind.EVENT and b'"event":"connected"' in r.payload:
            first.setdefault(key_of[r.conn_id], r.recv_ns)
        elif r.kind == Kind.FRAME and b'"rsp_cd":"00000"' in r.payload:
            last[key_of[r.conn_id]] = r.recv_ns
    return [(last[k] - first[k]) / 1e9 for k in first if k in last]


async def registration_run() -> dict[str, float]:
    """examples/full-market.toml against a simulator with its limits: plan vs measured, twice."""
    example = load_config(FULL_MARKET)
    v = example.venue
    proc, rest_url, ws_url, spec = await start_sim_process(
        "--rate", "500", "--start", "10:00", "--rest-rate-scale", "50",
        "--max-connections", str(v.connections_per_key),
        "--max-registrations", str(v.registrations_per_connection),
        "--max-registration-rate", f"{v.registrations_per_s:g}",
    )  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="gatherer-bench-registration-"))
    try:
        venue = msgspec.structs.replace(v, rest_url=rest_url, ws_url=ws_url, rest_rate_scale=50)
        storage = msgspec.structs.replace(example.storage, root=str(root), journal_keep_days=None)
        cfg = msgspec.structs.replace(example, venue=venue, storage=storage)
        keys = [Credentials(f"bench-key-{i}", f"bench-secret-{i}") for i in range(FULL_MARKET_KEYS)]
        assert example.run.workers is not None
        clock = ScaledClock.from_spec(spec)  # the simulator's: the journals' receive times are on it
        sup = Supervisor(cfg, keys, workers=example.run.workers, clock=clock)
        stop = asyncio.Event()
        async with aiohttp.ClientSession() as http:
            t0 = time.monotonic()
            run = asyncio.create_task(sup.run(stop))

            reached: list[int] = []

            def registered(n: int) -> Callable[[], Awaitable[bool]]:
                """All n at the venue, or no change for 30 s (what was refused for good stays out)."""
                since = [time.monotonic(), -1]

                async def check() -> bool:
                    now = (await sim_status(http, rest_url))["registrations"]
                    if now != since[1]:
                        since[:] = [time.monotonic(), now]
                    if now == n or time.monotonic() - since[0] > 30:
                        reached.append(now)
                        return True
                    return False

                return check

            await wait_for(_planned(sup), 300)
            plan = sup.result.plan
            assert plan is not None
            await wait_for(registered(plan.placed), 900)
            to_subscribed = time.monotonic() - t0
            await asyncio.sleep(5)
            dropped_ns = clock.time_ns()
            async with http.post(f"{rest_url}/_sim/fault", json={"fault": "drop"}) as resp:
                dropped = (await resp.json())["affected"]
            await wait_for(registered(plan.placed), 900)
            await asyncio.sleep(2)
            stop.set()
            await run
        rate_refused = sum(
            1
            for r in iter_records(root / "journal")
            if r.kind == Kind.FRAME and b'"rsp_cd":"IGW00201"' in r.payload
        )
        first = registering_s(root, plan, 0, dropped_ns)
        again = registering_s(root, plan, dropped_ns, clock.time_ns())
        return {
            "registrations": plan.placed,
            "keys": len(plan.by_key()),
            "connections": len(plan.connections),
            "workers": len(plan.by_worker()),
            "planned_s": plan.registration_seconds,
            "first_max_s": max(first),
            "first_median_s": statistics.median(first),
            "again_max_s": max(again),
            "again_median_s": statistics.median(again),
            "to_subscribed_s": to_subscribed,
            "dropped": dropped,
            "rate_refused": rate_refused,
            "reached_first": reached[0],
            "reached_again": reached[1],
        }
    finally:
        await stop_sim_process(proc)
        shutil.rmtree(root, ignore_errors=True)


def _planned(sup: Supervisor) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return sup.result.plan is not None

    return check


async def one_run(max_symbols: int | None, seconds: float) -> dict[str, float]:
    proc, rest_url, ws_url, spec = await start_sim_process(
        "--rate", "100000", "--start", "10:00", "--max-connections", "20", "--max-registrations", "1000",
        "--max-registration-rate", "9000", "--rest-rate-scale", "50",
    )  # fmt: skip
    plan_root = Path(tempfile.mkdtemp(prefix="gatherer-bench-plan-"))
    try:
        cfg = Config(
            venue=VenueConfig(
                rest_url=rest_url,
                ws_url=ws_url,
                connections_per_key=20,
                registrations_per_connection=1000,
                registrations_per_s=6000,
                rest_rate_scale=50,
            ),
            storage=StorageConfig(root=str(plan_root)),
            markets={
                m: MarketConfig(max_symbols=max_symbols, spreads=True)
                if m == "kfutures"
                else MarketConfig(max_symbols=max_symbols)
                for m in MARKETS
            },
        )
        sup = Supervisor(cfg, KEYS, workers=2, clock=ScaledClock.from_spec(spec))
        stop = asyncio.Event()
        http = aiohttp.ClientSession()
        t0 = time.monotonic()
        run = asyncio.create_task(sup.run(stop))

        async def planned() -> bool:
            return sup.result.plan is not None

        async def subscribed() -> bool:
            return (await sim_status(http, rest_url))["registrations"] >= total

        await wait_for(planned, 300)
        t_planned = time.monotonic()
        total = len(sup.result.registrations)
        await wait_for(subscribed, 600)
        t_subscribed = time.monotonic()
        await asyncio.sleep(3)
        f0, c0 = (await sim_status(http, rest_url))["frames_sent_total"], time.monotonic()
        await asyncio.sleep(seconds)
        f1, c1 = (await sim_status(http, rest_url))["frames_sent_total"], time.monotonic()
        await http.close()
        rss = sum(rss_mb(w.proc.pid) for w in sup.result.workers if w.proc is not None)
        stop.set()
        await run
        return {
            "registrations": total,
            "to_planned_s": t_planned - t0,
            "to_subscribed_s": t_subscribed - t0,
            "register_s": t_subscribed - t_planned,
            "fps": (f1 - f0) / (c1 - c0),
            "workers_rss_mb": rss,
        }
    finally:
        await stop_sim_process(proc)
        shutil.rmtree(plan_root, ignore_errors=True)


def record_registration(reg: dict[str, float]) -> None:
    planned = reg["planned_s"]

    def vs(measured: float) -> str:
        return f"{measured:.1f} s ({(measured - planned) / planned:+.0%})"

    rows = [
        ("registrations (placed, with JIF per worker)", f"{reg['registrations']:,.0f}"),
        ("of them registered at the venue, first / after the drop",
         f"{reg['reached_first']:,.0f} / {reg['reached_again']:,.0f}"),
        ("app keys / connections / worker processes",
         f"{reg['keys']:.0f} / {reg['connections']:.0f} / {reg['workers']:.0f}"),
        ("**`gatherer plan`: registering takes**", f"**{planned:.1f} s**"),
        ("measured, slowest key (first connected to last ack)", vs(reg["first_max_s"])),
        ("measured, median key", vs(reg["first_median_s"])),
        (f"after a drop of every connection ({reg['dropped']:.0f}), slowest key", vs(reg["again_max_s"])),
        ("after the drop, median key", vs(reg["again_median_s"])),
        ("refused for the rate (IGW00201) and sent again, both times", f"{reg['rate_refused']:,.0f}"),
        ("start to fully subscribed (tokens of 96 keys, masters, 8 workers starting)",
         f"{reg['to_subscribed_s']:.1f} s"),
    ]  # fmt: skip
    table = "\n".join(["| figure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows])
    record(
        "registration, plan vs measured (bench/plan.py)",
        f"""Command: `python -m bench.plan` (`make bench`). examples/full-market.toml as shipped (96 app keys,
3 connections x 200 registrations per key, 20 registrations/s per key, 8 workers) against a
simulator child process enforcing the same limits (`--max-connections 3 --max-registrations 200
--max-registration-rate 20`, per app key) with the full universe, streaming 5,000 frames/s. Each
key's time is its first connection's `connected` to its last `00000` ack, from the journals; then
the simulator drops every connection at once (`gatherer fault drop`) and the same is measured for
the re-registration (from each key's first reconnect; the reconnect backoff, 0.5–1 s, comes before).

{table}
""",
    )


async def main(seconds: float, part: str) -> None:
    if part in ("all", "registration"):
        reg = await registration_run()
        print(f"registration: {reg}")
        record_registration(reg)
    if part in ("all", "throughput"):
        await throughput(seconds)


async def throughput(seconds: float) -> None:
    small = await one_run(5, seconds)
    print(f"small: {small}")
    full = await one_run(None, seconds)
    print(f"full: {full}")
    per_1000 = (full["workers_rss_mb"] - small["workers_rss_mb"]) / (
        (full["registrations"] - small["registrations"]) / 1000
    )
    rows = [
        ("registrations", f"{small['registrations']:,.0f}", f"{full['registrations']:,.0f}"),
        ("start to planned (token, masters, selection, packing)",
         f"{small['to_planned_s']:.1f} s", f"{full['to_planned_s']:.1f} s"),
        ("start to fully subscribed (every registration acknowledged)",
         f"{small['to_subscribed_s']:.1f} s", f"{full['to_subscribed_s']:.1f} s"),
        ("of which registering", f"{small['register_s']:.1f} s", f"{full['register_s']:.1f} s"),
        (f"frames/s across all workers ({seconds:g} s window; simulator asked for 100,000/s)",
         f"{small['fps']:,.0f}", f"{full['fps']:,.0f}"),
        ("worker processes' RSS", f"{small['workers_rss_mb']:.0f} MB", f"{full['workers_rss_mb']:.0f} MB"),
        ("**worker memory per 1,000 subscriptions**", "", f"**{per_1000:.2f} MB**"),
    ]  # fmt: skip
    table = "\n".join(
        ["| figure | small | full universe |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    )
    record(
        "plan (bench/plan.py)",
        f"""Command: `python -m bench.plan --seconds {seconds:g}` (`make bench`). A simulator child process
with the full universe of all six markets (limits: 20 connections x 1,000 registrations per app key,
9,000 registrations/s), the supervisor in the bench process with 3 app keys and 2 worker processes
(each with its decode-and-store process), registering at 6,000/s per key. The small run takes 5 codes
per market, to subtract the workers' fixed memory.

{table}
""",
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--part", choices=("all", "registration", "throughput"), default="all")
    args = ap.parse_args()
    uvloop.run(main(args.seconds, args.part))
