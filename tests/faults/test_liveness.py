"""Session-aware liveness: a connection silent while its market trades is reconnected; a
silent connection whose market is closed is left alone (no reconnect storms at night)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import msgspec

from gatherer.capture import Kind, iter_records
from gatherer.clock import SEOUL, ScaledClock, seoul_ns
from gatherer.config import MarketConfig
from gatherer.run.collect import RunResult, collect
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.sessions import SessionCalendar

from ..conftest import sim_settings
from ..e2e.test_capture import CREDENTIALS, sim_config, wait_until

WED = dt.date(2026, 11, 25)


def test_sessions_follow_the_krx_calendar_and_overseas_hours() -> None:
    cal = SessionCalendar(krx_sessions=[WED])
    assert cal.is_open("kospi", seoul_ns(WED, dt.time(10, 0)))
    assert not cal.is_open("kospi", seoul_ns(WED, dt.time(8, 50)))  # the opening auction does not count
    assert not cal.is_open("kospi", seoul_ns(WED, dt.time(20, 0)))
    assert cal.is_open("kfutures", seoul_ns(WED, dt.time(8, 50)))
    assert not cal.is_open("kospi", seoul_ns(dt.date(2026, 11, 26), dt.time(10, 0)))  # not a session here
    assert cal.is_open("ofutures", seoul_ns(WED, dt.time(20, 0)))
    assert not cal.is_open("ofutures", seoul_ns(WED, dt.time(6, 30)))  # the daily break
    assert not cal.is_open("ofutures", seoul_ns(dt.date(2026, 11, 29), dt.time(12, 0)))  # Sunday
    xkrx = SessionCalendar()  # the real KRX calendar: Christmas is a holiday
    assert xkrx.is_open("kospi", seoul_ns(WED, dt.time(10, 0)))
    assert not xkrx.is_open("kospi", seoul_ns(dt.date(2026, 12, 25), dt.time(10, 0)))


async def run_with_stall(tmp_path: Path, start: dt.datetime, until: str) -> RunResult:
    clock = ScaledClock(int(start.timestamp() * 1e9), speed=1.0)
    settings = sim_settings(
        start=None, stream=StreamSettings(rate_fps=2000.0), limits=VenueLimits(rest_rate_scale=20)
    )
    async with Simulator(settings, clock=clock) as sim:
        cfg = sim_config(sim, tmp_path, {"kospi": MarketConfig(max_symbols=5, channels=["book"])})
        cfg = msgspec.structs.replace(cfg, venue=msgspec.structs.replace(cfg.venue, stall_timeout_s=1.0))
        stop = asyncio.Event()
        started: list[RunResult] = []
        task = asyncio.create_task(collect(cfg, CREDENTIALS, stop, on_start=started.append, clock=clock))
        await wait_until(lambda: bool(started) and started[0].connections[0].accepted == 5)
        (conn,) = started[0].connections
        assert sim.inject("stall") == 1
        if until == "reconnected":
            await wait_until(lambda: conn.stalls == 1 and conn.reconnects == 1 and conn.accepted == 5, 30)
        else:
            checks = conn.liveness_checks
            await wait_until(lambda: conn.liveness_checks >= checks + 12, 30)  # three stall periods
        stop.set()
        return await task


async def test_a_connection_silent_while_its_market_trades_is_reconnected(tmp_path: Path) -> None:
    result = await run_with_stall(tmp_path, dt.datetime(2026, 11, 25, 10, 0, tzinfo=SEOUL), "reconnected")
    (conn,) = result.connections
    assert conn.stalls == 1 and conn.reconnects == 1
    events = [r.payload for r in iter_records(tmp_path / "journal") if r.kind == Kind.EVENT]
    assert any(b'"event":"stalled"' in e for e in events)
    assert any(b'"reason":"stalled: no data' in e for e in events)


async def test_a_silent_connection_of_a_closed_market_is_left_alone(tmp_path: Path) -> None:
    # 20:00 Seoul: KRX stocks are closed; the simulator sends nothing and nobody reconnects.
    result = await run_with_stall(tmp_path, dt.datetime(2026, 11, 25, 20, 0, tzinfo=SEOUL), "checked")
    (conn,) = result.connections
    assert conn.stalls == 0 and conn.reconnects == 0
