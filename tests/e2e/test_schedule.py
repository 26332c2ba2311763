"""`gatherer run --schedule` across a weekend and a KRX holiday, on the simulator's clock.

The clock (``ScaledClock`` with changes of speed, shared by the simulator and every process of the
run through its spec) starts on Friday 2026-08-14 at 16:00 Seoul, after the KRX close: 3,000 times
real time until 22:00 (the collector starts up and computes its calendars: seconds of CPU, which
must not carry the clock past Tuesday), then 40,000 times through the weekend and Monday 2026-08-17
(a KRX holiday, the Liberation Day substitute), then 10 times from Tuesday 08:39:30, so that the
scheduled start at 08:40 (20 minutes before the 09:00 open) and the first connection come at a pace
the processes keep up with. The collector must open no connection while the market is closed and be
connected before the open. Literal dates: the holiday is a fact of the 2026 calendar, and the clock
is the simulator's.

How a scheduled day ends (the stop after the close, quality, seal, report) is tested in
tests/e2e/test_day_report.py, on a recorded day, through ``Scheduler.close_day``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from pathlib import Path

from gatherer.clock import SEOUL, ScaledClock
from gatherer.sim.server import SimSettings, Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings

from ..helpers.procs import ENV
from ..helpers.waiting import wait_until


def _at(day: int, h: int, m: int, s: int = 0) -> dt.datetime:
    return dt.datetime(2026, 8, day, h, m, s, tzinfo=SEOUL)


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000


START = _at(14, 16, 0)  # Friday, after the close
FAST_FROM = _at(14, 22, 0)
SLOW_FROM = _at(18, 8, 39, 30)  # Tuesday
SCHEDULED = _at(18, 8, 40)  # lead_min = 20 before the open
OPEN = _at(18, 9, 0)


async def test_the_schedule_waits_through_the_weekend_and_a_holiday_and_connects_before_the_open(
    tmp_path: Path,
) -> None:
    clock = ScaledClock(_ns(START), 3000.0, then=[(_ns(FAST_FROM), 40_000.0), (_ns(SLOW_FROM), 10.0)])
    settings = SimSettings(
        start=START, stream=StreamSettings(rate_fps=300.0), limits=VenueLimits(rest_rate_scale=20)
    )
    async with Simulator(settings, clock=clock) as sim:
        config = tmp_path / "gatherer.toml"
        config.write_text(
            f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
rest_rate_scale = 20

[storage]
root = "{tmp_path}"

[schedule]
lead_min = 20

[markets.kospi]
max_symbols = 2
channels = ["trade"]
""",
            encoding="utf-8",
        )
        assert sim.clock_spec is not None and sim.clock_spec.count(":") == 6
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gatherer", "run", "--schedule", "--config", str(config),
            "--clock", sim.clock_spec, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env=ENV, start_new_session=True,
        )  # fmt: skip
        log: list[str] = []

        async def drain() -> None:
            assert proc.stderr is not None
            while line := await proc.stderr.readline():
                log.append(line.decode(errors="replace"))

        def said(text: str) -> bool:
            return any(text in line for line in log)

        reader = asyncio.create_task(drain())
        try:
            # The first connection comes on Tuesday, after the scheduled start and before the open.
            await wait_until(lambda: bool(sim.hub.opened), 90)
            assert said("waiting until Tue 2026-08-18 08:40 Seoul: trading day 2026-08-18"), log
            opened = list(sim.hub.opened)
            assert all(_ns(SCHEDULED) <= t < _ns(OPEN) for _c, t in opened), (opened, "".join(log))
            await wait_until(lambda: sim.hub.registrations_total() >= 2, 60)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 60) == 0, "".join(log)
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
            await reader
    assert said("stopped by a signal: trading day 2026-08-18 is not sealed"), log
    # Every connection of the run was opened after the scheduled start: none while closed.
    assert sim.hub.opened and all(t >= _ns(SCHEDULED) for _c, t in sim.hub.opened)
    assert not (tmp_path / "manifest").exists()
    assert not (tmp_path / "journal" / "date=2026-08-14").exists()  # nothing recorded on Friday night
