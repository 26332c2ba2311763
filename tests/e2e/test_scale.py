"""The whole market at once: every code of all six markets (about 57,000 registrations, 16,800
overseas option series x 2 among them) through several app keys, connections and worker
processes, against a simulator that enforces the same limits."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import pytest

from gatherer.capture import Kind
from gatherer.config import Config, MarketConfig, StorageConfig, VenueConfig
from gatherer.run.store import JournalTail
from gatherer.run.supervisor import Supervisor
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.keys import format_tr_key

from ..conftest import sim_settings
from ..helpers.sim import head
from ..helpers.waiting import wait_until

MARKETS = ("kospi", "kosdaq", "kfutures", "koptions", "ofutures", "ooptions")
KEYS = [Credentials(f"scale-key-{i}", f"scale-secret-{i}") for i in range(3)]
PER_CONNECTION = 1000
CONNECTIONS_PER_KEY = 20
RATE = 6000.0


@pytest.mark.timeout(420)
async def test_the_full_universe_is_subscribed_within_limits_and_streams(tmp_path: Path) -> None:
    limits = VenueLimits(
        connections_per_key=CONNECTIONS_PER_KEY,
        registrations_per_connection=PER_CONNECTION,
        registrations_per_s=RATE * 1.5,  # the venue's limit; the plan paces at RATE
        rest_rate_scale=50,
    )
    settings = sim_settings(stream=StreamSettings(rate_fps=20_000.0), limits=limits)
    async with Simulator(settings) as sim:
        cfg = Config(
            venue=VenueConfig(
                rest_url=sim.rest_url,
                ws_url=sim.ws_url,
                connections_per_key=CONNECTIONS_PER_KEY,
                registrations_per_connection=PER_CONNECTION,
                registrations_per_s=RATE,
                rest_rate_scale=50,
            ),
            storage=StorageConfig(root=str(tmp_path)),
            markets={m: MarketConfig(spreads=True) if m == "kfutures" else MarketConfig() for m in MARKETS},
        )
        sup = Supervisor(cfg, KEYS, workers=2, restart_base_s=0.2, restart_cap_s=0.5, clock=sim.clock)
        stop = asyncio.Event()
        run = asyncio.create_task(sup.run(stop))
        try:
            await wait_until(lambda: sup.result.plan is not None, 120)
            regs = sup.result.registrations
            total = len(regs)
            counts = {m: sum(1 for r in regs if r.market == m) for m in MARKETS}
            assert total > 55_000 and counts["ooptions"] >= 30_000 and counts["koptions"] > 10_000
            plan = sup.result.plan
            assert plan is not None and len(plan.by_key()) == 3 and len(plan.by_worker()) == 2
            total = plan.placed  # the selection and one market-status (JIF) registration per worker
            assert total == len(regs) + 2
            # Every registration acknowledged, none refused: the plan never exceeded a limit.
            await wait_until(lambda: sim.hub.registrations_total() == total, 180)
            assert sim.hub.refusals_total == 0
            assert len(sim.hub.connections) == len(plan.connections)

            # Frames reach the journals: from every market, and from a random sample of 200 (TR, key).
            sample = random.Random(7).sample(regs, 200)
            wanted = {head(r.tr_cd, format_tr_key(r.tr_cd, r.symbol)) for r in sample}
            tails = [JournalTail(tmp_path, w) for w in ("w00", "w01")]
            seen: set[bytes] = set()

            def covered() -> bool:
                for tail in tails:
                    for rec in tail.poll():
                        if rec.kind == Kind.FRAME:
                            h = rec.payload.split(b'"body"')[0]
                            if h in wanted:
                                seen.add(h)
                return wanted <= seen

            try:
                await wait_until(covered, 240)
            finally:
                for tail in tails:
                    tail.close()

            # A killed worker is restarted and its connections registered again.
            victim = sup.result.workers[1]
            assert victim.proc is not None
            victim.proc.send_signal(signal.SIGKILL)
            await wait_until(lambda: sup.result.restarts == 1, 60)
            await wait_until(lambda: sim.hub.registrations_total() == total, 180)
            assert sim.hub.refusals_total == 0
        finally:
            stop.set()
            result = await run
    accepted = sum(c["accepted"] for r in result.reports for c in r.connections)
    assert accepted == total  # the killed process left no report; its successor counted its share again
