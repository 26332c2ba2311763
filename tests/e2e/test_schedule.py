"""`gatherer run --schedule` across a weekend and a KRX holiday, on the simulator's clock.

The clock starts on Friday 2026-08-14 at 20:00 Seoul (KRX closed for the day) and runs 40,000
times faster than real time until Tuesday 08:39:30, then 10 times (``ScaledClock(then=...)``): the
weekend and Monday 2026-08-17 (a KRX holiday, the Liberation Day substitute) pass in seconds, and
the scheduled start, 20 minutes before Tuesday's 09:00 KOSPI open, at a pace the processes keep up
with. The collector must open no connection while the market is closed and be connected before the
open. Literal dates: the holiday is a fact of the 2026 calendar, and the clock is the simulator's.
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

START = dt.datetime(2026, 8, 14, 20, 0, tzinfo=SEOUL)  # Friday evening
SLOW_FROM = dt.datetime(2026, 8, 18, 8, 39, 30, tzinfo=SEOUL)  # Tuesday
SCHEDULED = dt.datetime(2026, 8, 18, 8, 40, tzinfo=SEOUL)  # lead_min = 20 before the open
OPEN = dt.datetime(2026, 8, 18, 9, 0, tzinfo=SEOUL)
HOLIDAY_SESSION = (
    dt.datetime(2026, 8, 17, 9, 0, tzinfo=SEOUL),
    dt.datetime(2026, 8, 17, 15, 20, tzinfo=SEOUL),
)


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000


async def test_the_schedule_waits_through_the_weekend_and_a_holiday_and_connects_before_the_open(
    tmp_path: Path,
) -> None:
    clock = ScaledClock(_ns(START), 40_000.0, then=(_ns(SLOW_FROM), 10.0))
    settings = SimSettings(
        start=START, stream=StreamSettings(rate_fps=500.0), limits=VenueLimits(rest_rate_scale=20)
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
        assert sim.clock_spec is not None and sim.clock_spec.count(":") == 4
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

        reader = asyncio.create_task(drain())
        seen: list[tuple[int, int]] = []  # (venue time, open connections) every 10 ms of real time

        def connected() -> bool:
            seen.append((sim.clock.time_ns(), len(sim.hub.connections)))
            return seen[-1][1] > 0

        try:
            await wait_until(connected, 60)
            first_ns = seen[-1][0]
            # Closed all weekend and on the holiday's would-be session: watched there, and no connection.
            lo, hi = (_ns(t) for t in HOLIDAY_SESSION)
            assert any(lo <= t < hi for t, _n in seen), "the test did not watch the holiday's hours"
            assert all(n == 0 for t, n in seen if t < _ns(SCHEDULED))
            assert _ns(SCHEDULED) <= first_ns < _ns(OPEN), (first_ns, "".join(log))
            assert any(
                "waiting until Tue 2026-08-18 08:40 Seoul: trading day 2026-08-18" in line for line in log
            ), log
            await wait_until(lambda: sim.hub.registrations_total() >= 2, 60)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 60) == 0, "".join(log)
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
            await reader
        assert any("stopped by a signal: trading day 2026-08-18 is not sealed" in line for line in log), log
        assert not (tmp_path / "manifest").exists()
