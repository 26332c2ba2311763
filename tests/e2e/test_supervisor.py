"""`gatherer run` as a supervisor: several app keys and worker processes against the simulator;
a killed worker is restarted and registers again; a killed supervisor takes its workers along."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from gatherer.capture import Kind, iter_records
from gatherer.config import Config, MarketConfig, StorageConfig, VenueConfig
from gatherer.run.store import JournalTail
from gatherer.run.supervisor import Supervisor
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.keys import format_tr_key

from ..conftest import Reap, sim_settings
from ..helpers.procs import children, gone
from ..helpers.sim import head
from ..helpers.waiting import wait_until

KEYS = [Credentials(f"key-{i}", f"secret-{i}") for i in range(3)]


def config(sim: Simulator, root: Path, markets: dict[str, MarketConfig], per_conn: int = 30) -> Config:
    return Config(
        venue=VenueConfig(
            rest_url=sim.rest_url,
            ws_url=sim.ws_url,
            connections_per_key=2,
            registrations_per_connection=per_conn,
            registrations_per_s=100,
            rest_rate_scale=20,
        ),
        storage=StorageConfig(root=str(root)),
        markets=markets,
    )


def limited_sim() -> Simulator:
    # The venue enforces the same limits the plan must respect.
    limits = VenueLimits(connections_per_key=2, registrations_per_connection=30, registrations_per_s=150,
                         rest_rate_scale=20)  # fmt: skip
    return Simulator(sim_settings(stream=StreamSettings(rate_fps=3000.0), limits=limits))


async def test_two_workers_three_keys_every_registration_acknowledged_and_recorded(tmp_path: Path) -> None:
    async with limited_sim() as sim:
        markets = {"kospi": MarketConfig(max_symbols=20), "ofutures": MarketConfig(max_symbols=20)}
        sup = Supervisor(config(sim, tmp_path, markets), KEYS, workers=2, clock=sim.clock)
        stop = asyncio.Event()
        run = asyncio.create_task(sup.run(stop))
        await wait_until(lambda: sup.result.plan is not None, 60)
        assert len(sup.result.registrations) == 20 * 3 + 20 * 2
        total = sup.result.plan.placed
        assert total == 20 * 3 + 20 * 2 + 2  # and LS's market-status feed (JIF) for each worker
        await wait_until(lambda: sim.hub.registrations_total() == total, 60)
        # Follow both workers' journals as they grow until every (TR, key) has frames in them.
        expected = {head(r.tr_cd, format_tr_key(r.tr_cd, r.symbol)) for r in sup.result.registrations}
        tails = [JournalTail(tmp_path, w) for w in ("w00", "w01")]
        seen: set[bytes] = set()

        def journaled_all() -> bool:
            for tail in tails:
                seen.update(rec.payload.split(b'"body"')[0] for rec in tail.poll() if rec.kind == Kind.FRAME)
            return expected <= seen

        try:
            await wait_until(journaled_all, 90)
        finally:
            for tail in tails:
                tail.close()
        stop.set()
        result = await run
    plan = result.plan
    assert plan is not None and plan.fits
    assert len(plan.connections) == 6  # every connection the 3 keys allow: a drop costs the fewest streams
    assert all(len(conns) == 2 for conns in plan.by_key().values())
    assert all(len({c.worker for c in conns}) == 1 for conns in plan.by_key().values())  # a key's pace
    reports = result.reports
    assert sorted(r.worker_id for r in reports) == ["w00", "w01"]
    assert sum(c["accepted"] for r in reports for c in r.connections) == total
    assert all(c["refused"] == 0 for r in reports for c in r.connections)
    assert {r.conn_id.split("-")[0] for r in iter_records(tmp_path / "journal")} == {"w00", "w01"}
    # And the store processes decoded them, every data frame.
    data = sum(
        1 for r in iter_records(tmp_path / "journal") if r.kind == Kind.FRAME and b'"rsp_cd"' not in r.payload
    )
    assert data > 1000
    assert sum(r.store.get("rows", 0) + r.store.get("quarantined", 0) for r in reports) == data


async def test_a_killed_worker_is_restarted_and_registers_again(tmp_path: Path) -> None:
    async with limited_sim() as sim:
        sup = Supervisor(config(sim, tmp_path, {"kosdaq": MarketConfig(max_symbols=10)}), KEYS[:1], workers=2,
                         restart_base_s=0.2, restart_cap_s=0.5, clock=sim.clock)  # fmt: skip
        stop = asyncio.Event()
        run = asyncio.create_task(sup.run(stop))
        await wait_until(lambda: sup.result.plan is not None, 60)
        # 30 spread over the key's two connections, and the market-status feed where there is room.
        total = sup.result.plan.placed
        assert total == 31 and len(sup.result.plan.connections) == 2
        await wait_until(lambda: sim.hub.registrations_total() == total, 60)
        victim = sup.result.workers[0]
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        await wait_until(lambda: sup.result.restarts == 1 and victim.starts == 2, 30)
        await wait_until(lambda: sim.hub.registrations_total() == total, 30)
        frames_then = sim.hub.frames_sent_total
        await wait_until(lambda: sim.hub.frames_sent_total > frames_then + 500, 30)
        stop.set()
        result = await run
    ids = [r.worker_id for r in result.reports]
    assert ids.count(victim.spec.worker_id) == 1  # the killed process left no report; its successor did
    records = [r for r in iter_records(tmp_path / "journal") if r.conn_id.startswith(victim.spec.worker_id)]
    assert [r.seq for r in records] == list(range(len(records)))  # the new process continued the journal
    events = [r.payload for r in records if r.kind == Kind.EVENT]
    assert sum(b'"event":"connected"' in e for e in events) >= 2


async def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path, reap: Reap) -> None:
    async with limited_sim() as sim:
        cfg_path = tmp_path / "gatherer.toml"
        cfg_path.write_text(
            f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
connections_per_key = 2
registrations_per_connection = 30
registrations_per_s = 100
rest_rate_scale = 20
[storage]
root = "{tmp_path}"
[markets.kospi]
max_symbols = 20
""",
            encoding="utf-8",
        )
        # Two app keys: an app key's connections stay in one worker (the venue paces each key).
        keys = {"GATHERER_LS_APPKEY": "k", "GATHERER_LS_APPSECRET": "s"}
        keys |= {"GATHERER_LS_APPKEY_2": "k2", "GATHERER_LS_APPSECRET_2": "s2"}
        env = {**os.environ, **keys}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gatherer", "run", "--config", str(cfg_path), "--workers", "2",
            "--clock", sim.clock.spec,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        reap(proc.pid)
        assert proc.stderr is not None
        while not (await asyncio.wait_for(proc.stderr.readline(), 60)).startswith(b"recording"):
            pass
        await wait_until(lambda: sim.hub.registrations_total() == 60 + 2, 60)  # and JIF on each worker
        workers = children(proc.pid)
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await wait_until(lambda: all(gone(pid) for pid in workers), 20)
        await wait_until(lambda: sim.hub.registrations_total() == 0, 20)


async def test_at_the_cutoff_new_masters_are_fetched_and_a_changed_selection_is_replanned(
    tmp_path: Path,
) -> None:
    import dataclasses
    import datetime as dt

    from gatherer.clock import SEOUL, ScaledClock

    start = dt.datetime(2026, 11, 25, 7, 29, 57, tzinfo=SEOUL)
    clock = ScaledClock(int(start.timestamp() * 1e9), speed=1.0)
    settings = sim_settings(
        start=None, stream=StreamSettings(rate_fps=1000.0), limits=VenueLimits(rest_rate_scale=20)
    )
    async with Simulator(settings, clock=clock) as sim:
        sup = Supervisor(
            config(sim, tmp_path, {"ofutures": MarketConfig(max_symbols=3)}), KEYS[:1], clock=clock
        )
        stop = asyncio.Event()
        run = asyncio.create_task(sup.run(stop))
        await wait_until(lambda: sup.result.plan is not None and sim.hub.registrations_total() == 6, 60)
        before = {r.symbol for r in sup.result.registrations}
        # Overnight the first overseas future expires: the new day's master lacks it.
        gone_symbol = sim.universe.instruments["ofutures"][0].symbol
        assert gone_symbol in before
        instruments = dict(sim.universe.instruments)
        instruments["ofutures"] = instruments["ofutures"][1:]
        sim.rest.universe = dataclasses.replace(sim.universe, instruments=instruments)
        await wait_until(lambda: sup.result.replans == 1, 30)
        after = {r.symbol for r in sup.result.registrations}
        assert gone_symbol not in after and len(after) == 3
        planned = {(r.tr_cd, format_tr_key(r.tr_cd, r.symbol)) for r in sup.result.registrations}

        def registered() -> set[tuple[str, str]]:
            return {reg for conn in sim.hub.connections.values() for reg in conn.registrations}

        await wait_until(lambda: registered() == planned, 30)
        stop.set()
        await run
    days = sorted(p.name for p in (tmp_path / "masters").iterdir())
    assert days == ["date=2026-11-24", "date=2026-11-25"]


async def test_a_token_the_venue_stops_accepting_is_reissued_and_everything_registers_again(
    tmp_path: Path,
) -> None:
    async with limited_sim() as sim:
        sup = Supervisor(
            config(sim, tmp_path, {"ofutures": MarketConfig(max_symbols=3)}), KEYS[:1], clock=sim.clock
        )
        stop = asyncio.Event()
        run = asyncio.create_task(sup.run(stop))
        await wait_until(lambda: sup.result.plan is not None and sim.hub.registrations_total() == 6, 60)
        assert sim.inject("expire-token") == 1  # revoked at the venue long before its 07:00 expiry
        sim.inject("drop")  # the reconnect's registrations are refused for the token
        await wait_until(lambda: sim.hub.registrations_total() == 0, 20)
        await wait_until(lambda: sim.hub.registrations_total() == 6, 60)
        stop.set()
        result = await run
    events = [
        r.payload for d in (tmp_path / "journal").iterdir() for r in iter_records(d) if r.kind == Kind.EVENT
    ]
    assert any(b'"token_refused"' in e for e in events)
    assert not any(b'"event":"refused"' in e for e in events)  # all registered again with the new token
    (report,) = result.reports
    assert sum(c["accepted"] for c in report.connections) == 6
