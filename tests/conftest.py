"""Shared fixtures: a simulated LS venue on 127.0.0.1 (ephemeral port), started per test."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gatherer.clock import SEOUL
from gatherer.sim.server import SimSettings, Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings

FIXTURES = Path(__file__).parent / "fixtures"
# A Wednesday, 10:00 in Seoul: KRX stocks and derivatives and the overseas sessions are all open.
MIDDAY = dt.datetime(2026, 11, 25, 10, 0, tzinfo=SEOUL)


def ls_example(tr: str) -> dict[str, Any]:
    """LS's own published example for a TR (tests/fixtures/ls_examples, copied from the portal)."""
    data: dict[str, Any] = json.loads((FIXTURES / "ls_examples" / f"{tr}.json").read_text(encoding="utf-8"))
    return data


def sim_settings(**overrides: Any) -> SimSettings:
    base: dict[str, Any] = {
        "start": MIDDAY,
        "stream": StreamSettings(rate_fps=3000.0),
        "limits": VenueLimits(),
    }
    base.update(overrides)
    return SimSettings(**base)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(sim_settings()) as s:
        yield s
