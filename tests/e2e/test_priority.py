"""`gatherer plan` with a small key budget, against the simulator: with ``priority = "liquidity"``
(the default) it keeps the most traded codes by yesterday's traded value (t8407) and prints the
value share kept; with ``priority = "code"`` it refuses, as before."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.liquidity import fetch_values
from gatherer.venues.ls.masters import fetch_master
from gatherer.venues.ls.ratelimit import TR_LIMITS, with_overrides
from gatherer.venues.ls.rest import RestClient

from ..conftest import sim_settings

GATHERER = str(Path(sys.executable).parent / "gatherer")
PER_MARKET = 40
BUDGET = 31  # one key, one connection of 31: JIF (the watchdog's) and 10 codes of three channels


def config_text(sim: Simulator, root: Path, priority: str) -> str:
    return f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
connections_per_key = 1
registrations_per_connection = {BUDGET}
rest_rate_scale = 20

[storage]
root = "{root}"

[plan]
priority = "{priority}"

[markets.kospi]
max_symbols = {PER_MARKET}

[markets.kosdaq]
max_symbols = {PER_MARKET}
"""


@pytest.fixture
async def venue() -> AsyncIterator[Simulator]:
    async with Simulator(sim_settings(limits=VenueLimits(rest_rate_scale=20))) as sim:
        yield sim


async def plan(tmp_path: Path, sim: Simulator, priority: str) -> tuple[int, str]:
    config = tmp_path / f"{priority}.toml"
    config.write_text(config_text(sim, tmp_path / "data", priority), encoding="utf-8")
    env = {
        **os.environ,
        "GATHERER_LS_APPKEY": "plan-key",
        "GATHERER_LS_APPSECRET": "plan-secret",
        "COLUMNS": "250",
    }
    proc = await asyncio.create_subprocess_exec(
        GATHERER, "plan", "--config", str(config), "--app-keys", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def test_liquidity_keeps_the_most_traded_and_says_the_share(tmp_path: Path, venue: Simulator) -> None:
    code, text = await plan(tmp_path, venue, "liquidity")
    assert code == 0, text
    # The oracle: the venue's own answers (masters, then t8407 for the selected codes), ranked here.
    limits = with_overrides(TR_LIMITS, scale=20)
    async with RestClient.open(venue.rest_url, Credentials("t", "s"), clock=venue.clock, limits=limits) as c:
        codes = [
            s
            for m in ("kospi", "kosdaq")
            for s in (await fetch_master(c, m)).column("symbol").to_pylist()[:PER_MARKET]
        ]
        table = await fetch_values(c, "kospi", codes)
    values = dict(zip(table.column("symbol").to_pylist(), table.column("value").to_pylist(), strict=True))
    assert len(set(values.values())) > 20  # the venue's values differ: a ranking can be wrong
    ranked = sorted(codes, key=lambda s: (-values[s], codes.index(s)))
    kept, left = ranked[: (BUDGET - 1) // 3], ranked[(BUDGET - 1) // 3 :]
    share = sum(values[s] for s in kept) / sum(values.values())
    line = next(ln for ln in text.splitlines() if "KOSPI+KOSDAQ codes" in ln)
    assert (
        f"kept {len(kept)} of {len(codes)} KOSPI+KOSDAQ codes = {share * 100:.0f} % of yesterday's value"
        in line
    )
    assert (
        f"left out the {len(left)} least traded ({len(left) * 3} registrations): {', '.join(left[:10])} …"
        in line
    )
    assert re.search(r"^all\s+status\s+JIF\s+1\s*$", text, re.MULTILINE), text
    assert re.search(rf"^total\s+{BUDGET}\s*$", text, re.MULTILINE), text
    assert "the plan fits the venue limits" in text


async def test_priority_code_refuses_as_before(tmp_path: Path, venue: Simulator) -> None:
    code, text = await plan(tmp_path, venue, "code")
    assert code == 1
    assert "DOES NOT FIT" in text and "of yesterday's value" not in text
