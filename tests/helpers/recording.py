"""Recording a short run into a lake: simulator -> collector -> journal -> Parquet, stopped once
enough frames came in."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gatherer.config import MarketConfig
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings

from ..conftest import sim_settings
from .collect import RunResult, collect
from .sim import CREDENTIALS, sim_config
from .waiting import wait_until


async def record(root: Path, markets: dict[str, MarketConfig], *, fault_count: int = 0, frames: int = 3000,
                 settings: Any = None, clock: Any = None) -> RunResult:  # fmt: skip
    settings = settings or sim_settings(
        stream=StreamSettings(rate_fps=4000.0), limits=VenueLimits(rest_rate_scale=20)
    )
    async with Simulator(settings, clock=clock) as sim:
        stop = asyncio.Event()
        started: list[RunResult] = []
        task = asyncio.create_task(
            collect(
                sim_config(sim, root, markets), CREDENTIALS, stop, on_start=started.append, clock=sim.clock
            )
        )
        await wait_until(
            lambda: bool(started) and sum(c.frames for c in started[0].connections) > frames // 2
        )
        if fault_count:
            sim.inject("malformed", count=fault_count)
        await wait_until(lambda: sum(c.frames for c in started[0].connections) > frames)
        await wait_until(lambda: sim.faults.malformed_frames == 0)
        stop.set()
        return await task
