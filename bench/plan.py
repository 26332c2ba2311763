"""bench/plan: the whole market through the supervisor and its workers.

A simulator child process (the full universe of all six markets at real sizes, limits of 20
connections x 1,000 registrations per app key), and `gatherer run`'s supervisor in this
process with three app keys and two worker processes. Reported: time from start to fully
subscribed (every registration acknowledged), worker memory per 1,000 subscriptions (the
slope between a small and the full universe), and frames/s across all workers afterwards.
Run: `make bench` or `python -m bench.plan`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable

import aiohttp
import uvloop

from bench.common import record, rss_mb
from gatherer.clock import ScaledClock
from gatherer.config import Config, MarketConfig, StorageConfig, VenueConfig
from gatherer.run.supervisor import Supervisor
from gatherer.sim.process import start_sim_process, stop_sim_process
from gatherer.venues.ls.auth import Credentials

MARKETS = ("kospi", "kosdaq", "kfutures", "koptions", "ofutures", "ooptions")
KEYS = [Credentials(f"bench-key-{i}", f"bench-secret-{i}") for i in range(3)]


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


async def one_run(max_symbols: int | None, seconds: float) -> dict[str, float]:
    proc, rest_url, ws_url, spec = await start_sim_process(
        "--rate", "100000", "--start", "10:00", "--max-connections", "20", "--max-registrations", "1000",
        "--max-registration-rate", "9000", "--rest-rate-scale", "50",
    )  # fmt: skip
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
            storage=StorageConfig(root=tempfile.mkdtemp(prefix="gatherer-bench-plan-")),
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


async def main(seconds: float) -> None:
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
    uvloop.run(main(ap.parse_args().seconds))
