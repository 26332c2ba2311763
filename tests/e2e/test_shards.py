"""`gatherer plan --shards 3` against the simulator: the split of the configured universe as users
see it, every registration in one shard; `--shard` plans exactly that shard."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from gatherer.sim.server import Simulator

from ..conftest import Reap
from ..helpers.procs import ENV, write_config


async def plan(reap: Reap, sim: Simulator, config: Path, *flags: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "plan", "--config", str(config), *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    reap(proc.pid)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_plan_shows_three_shards_covering_the_universe_once(
    tmp_path: Path, sim: Simulator, reap: Reap
) -> None:
    config = write_config(sim, tmp_path)
    text, shard2 = await asyncio.gather(
        plan(reap, sim, config, "--shards", "3"), plan(reap, sim, config, "--shard", "2/3")
    )
    total = int(re.search(r"3 shards of ([\d,]+) registrations", text)[1].replace(",", ""))  # type: ignore[index]
    assert total == 40 * 3 + 10 * 2  # the config's kospi and ofutures symbols, every channel
    shards = [int(n.replace(",", "")) for n in re.findall(r"shard \d/3: ([\d,]+) registrations", text)]
    assert len(shards) == 3 and sum(shards) == total and min(shards) > 0
    assert f"shard 2/3: {shards[1]:,} of {total:,} registrations" in shard2
