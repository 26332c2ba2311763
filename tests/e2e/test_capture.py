"""Simulator -> collector -> journal, end to end on loopback: every frame the venue sent
is in the journal exactly once, byte for byte."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from gatherer.capture import Kind, iter_records
from gatherer.config import Config, MarketConfig, StorageConfig, VenueConfig
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings

from ..conftest import sim_settings
from ..helpers.collect import RunResult, collect
from ..helpers.sim import CREDENTIALS, sim_config
from ..helpers.waiting import wait_until


async def test_every_sent_frame_is_journaled_exactly_once_byte_for_byte(tmp_path: Path) -> None:
    sent: list[tuple[str, bytes]] = []
    settings = sim_settings(
        stream=StreamSettings(rate_fps=4000.0),
        limits=VenueLimits(rest_rate_scale=20),
    )
    async with Simulator(settings, on_sent=lambda conn, frame: sent.append((conn, frame))) as sim:
        cfg = sim_config(
            sim,
            tmp_path,
            {
                "kospi": MarketConfig(max_symbols=30),
                "kfutures": MarketConfig(),
                "ofutures": MarketConfig(max_symbols=12),
                "ooptions": MarketConfig(max_symbols=10),
            },
        )
        stop = asyncio.Event()
        started: list[RunResult] = []
        task = asyncio.create_task(collect(cfg, CREDENTIALS, stop, on_start=started.append, clock=sim.clock))
        await wait_until(lambda: bool(started))
        run = started[0]
        await wait_until(lambda: sum(c.accepted for c in run.connections) == len(run.registrations))
        await wait_until(lambda: len(sent) > 3000)
        sim.hub.paused = True
        # Let the collector receive everything that was sent before stopping it.
        await wait_until(
            lambda: sum(c.frames for c in run.connections) == sim.hub.frames_sent_total + sim.hub.acks_total
        )
        stop.set()
        result = await task
    assert len(result.connections) >= 3  # 30 stocks x 3 channels alone need three connections of 40
    assert all(c.refused == 0 and c.unanswered == 0 for c in result.connections)

    records = list(iter_records(tmp_path / "journal"))
    assert [r.seq for r in records] == list(range(len(records)))
    data = [r.payload for r in records if r.kind == Kind.FRAME and b'"rsp_cd"' not in r.payload]
    assert Counter(data) == Counter(frame for _, frame in sent)
    acks = [r for r in records if r.kind == Kind.FRAME and b'"rsp_cd"' in r.payload]
    assert len(acks) == len(result.registrations)
    # What we sent is journaled too, with the token redacted.
    sent_records = [r.payload for r in records if r.kind == Kind.SENT]
    assert len(sent_records) == len(result.registrations)
    assert all(b'"token":"<redacted>"' in p for p in sent_records)
    # And so is the day's story: connects, registrations, the orderly disconnect.
    events = Counter(r.payload.split(b'"')[3] for r in records if r.kind == Kind.EVENT)
    assert events[b"connected"] == events[b"disconnected"] == events[b"registered"] == len(result.connections)
    # Receive times are stamped once per frame and never go backwards on a connection.
    by_conn: dict[str, list[int]] = {}
    for r in records:
        if r.kind == Kind.FRAME:
            by_conn.setdefault(r.conn_id, []).append(r.recv_ns)
    assert all(times == sorted(times) for times in by_conn.values())
    # Masters were stored for the day.
    assert sorted(p.name for p in (tmp_path / "masters").glob("date=*/*.parquet")) == [
        "kfutures.parquet",
        "kospi.parquet",
        "ofutures.parquet",
        "ooptions.parquet",
    ]


async def test_a_dropped_connection_is_reconnected_and_registered_again(tmp_path: Path) -> None:
    settings = sim_settings(stream=StreamSettings(rate_fps=2000.0), limits=VenueLimits(rest_rate_scale=20))
    async with Simulator(settings) as sim:
        cfg = sim_config(sim, tmp_path, {"kosdaq": MarketConfig(max_symbols=5)}, connections_per_key=1)
        stop = asyncio.Event()
        started: list[RunResult] = []
        task = asyncio.create_task(collect(cfg, CREDENTIALS, stop, on_start=started.append, clock=sim.clock))
        await wait_until(lambda: bool(started))
        (conn,) = started[0].connections
        await wait_until(lambda: conn.accepted == 15 and conn.frames > 100)
        assert sim.inject("drop") == 1
        await wait_until(lambda: conn.reconnects == 1 and sim.hub.registrations_total() == 15)
        frames_then = conn.frames
        await wait_until(lambda: conn.frames > frames_then + 100)
        stop.set()
        await task
    events = [r.payload for r in iter_records(tmp_path / "journal") if r.kind == Kind.EVENT]
    assert sum(b'"connected"' in e for e in events) == 2
    assert any(b'"disconnected"' in e and b"closed by us" not in e for e in events)


async def test_a_replayed_journal_is_recorded_again_byte_for_byte(tmp_path: Path) -> None:
    from gatherer.run.replay import ReplayServer

    live, again = tmp_path / "live", tmp_path / "again"
    markets = {"kosdaq": MarketConfig(max_symbols=8), "ofutures": MarketConfig(max_symbols=4)}
    settings = sim_settings(stream=StreamSettings(rate_fps=3000.0), limits=VenueLimits(rest_rate_scale=20))
    async with Simulator(settings) as sim:
        stop = asyncio.Event()
        started: list[RunResult] = []
        task = asyncio.create_task(
            collect(
                sim_config(sim, live, markets), CREDENTIALS, stop, on_start=started.append, clock=sim.clock
            )
        )
        await wait_until(lambda: bool(started) and sum(c.frames for c in started[0].connections) > 2000)
        stop.set()
        first = await task
    recorded = [
        r.payload
        for r in iter_records(live / "journal")
        if r.kind == Kind.FRAME and b'"rsp_cd"' not in r.payload
    ]

    replay = ReplayServer([live / "journal"], speed=0, start_after_registrations=len(first.registrations))
    async with replay:
        cfg = Config(
            venue=VenueConfig(rest_url=replay.rest_url, ws_url=replay.ws_url, registrations_per_s=200),
            storage=StorageConfig(root=str(again)),
            markets=markets,
        )
        stop = asyncio.Event()
        started = []
        task = asyncio.create_task(collect(cfg, CREDENTIALS, stop, on_start=started.append, clock=sim.clock))
        await asyncio.wait_for(replay.finished.wait(), 60)
        await wait_until(
            lambda: (
                sum(c.frames for c in started[0].connections) == replay.frames_sent + len(first.registrations)
            )
        )
        stop.set()
        second = await task
    assert second.registrations == first.registrations  # the masters were served from the recorded day
    replayed = [
        r.payload
        for r in iter_records(again / "journal")
        if r.kind == Kind.FRAME and b'"rsp_cd"' not in r.payload
    ]
    assert replay.frames_sent == len(recorded)
    assert Counter(replayed) == Counter(recorded)
