"""`gatherer probe-limits` against the simulator finds its configured limits exactly — connections
per key, registrations per connection, registrations per second — both when the venue refuses past
its limit and when it acknowledges past it and never streams (silent non-delivery); it leaves
nothing registered, and `gatherer plan` then plans with what it measured and says so."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gatherer.clock import SEOUL
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings

from ..conftest import Reap, sim_settings
from ..helpers.waiting import wait_until

GATHERER = str(Path(sys.executable).parent / "gatherer")
EVENING = dt.datetime(2026, 11, 25, 20, 0, tzinfo=SEOUL)  # a Wednesday: KRX closed, CME open
CONNECTIONS, REGISTRATIONS, RATE = 3, 40, 150


def limits(*, silent: bool) -> VenueLimits:
    return VenueLimits(
        connections_per_key=CONNECTIONS,
        registrations_per_connection=REGISTRATIONS,
        registrations_per_s=RATE,
        rest_rate_scale=20,
        silent_past_limit=silent,
    )


@pytest.fixture(params=[False, True], ids=["refusing", "silent"])
async def venue(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    settings = sim_settings(
        start=EVENING, stream=StreamSettings(rate_fps=3000.0), limits=limits(silent=request.param)
    )
    async with Simulator(settings) as sim:
        yield sim


async def gatherer(reap: Reap, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "GATHERER_LS_APPKEY": "probe-key",
        "GATHERER_LS_APPSECRET": "probe-secret",
        "COLUMNS": "250",
    }
    proc = await asyncio.create_subprocess_exec(
        GATHERER, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    reap(proc.pid)
    text, _ = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode is not None
    return proc.returncode, text.decode()


async def test_probe_finds_the_venues_limits(tmp_path: Path, venue: Simulator, reap: Reap) -> None:
    config = tmp_path / "gatherer.toml"
    config.write_text(
        f'[venue]\nrest_url = "{venue.rest_url}"\nws_url = "{venue.ws_url}"\nrest_rate_scale = 20\n'
        f'[storage]\nroot = "{tmp_path / "data"}"\n[markets.ofutures]\n',
        encoding="utf-8",
    )
    assert venue.clock_spec is not None
    code, text = await gatherer(
        reap, "probe-limits", "--config", str(config), "--clock", venue.clock_spec,
        "--watch-s", "2", "--max-connections", "6", "--max-registrations", "60", "--rate-burst", "250",
    )  # fmt: skip
    assert code == 0, text
    found = json.loads((tmp_path / "data" / "state" / "venue-limits.json").read_text())
    assert (
        found["connections_per_key"],
        found["registrations_per_connection"],
        found["registrations_per_s"],
    ) == (
        CONNECTIONS,
        REGISTRATIONS,
        RATE,
    ), found["notes"]
    silent = venue.settings.limits.silent_past_limit
    assert found["silent_past"] == (REGISTRATIONS if silent else None), found["notes"]
    # Polite: everything it registered is unregistered, every connection closed.
    await wait_until(lambda: venue.hub.registrations_total() == 0 and not venue.hub.connections, 10)

    if silent:
        return
    code, text = await gatherer(reap, "plan", "--config", str(config), "--app-keys", "1")
    assert (
        f"venue limits per app key: {CONNECTIONS} connections (measured), {REGISTRATIONS} registrations each"
        f" (measured), {RATE} registrations/s (measured); measured by `gatherer probe-limits`"
    ) in text, text
    assert f"(at most {REGISTRATIONS} each)" in text
