"""Shared fixtures: a simulated LS venue on 127.0.0.1 (ephemeral port), started per test."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
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


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            kids = [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for kid in kids:
            found += [kid, *_descendants(kid)]
    return found


Reap = Callable[[int], None]


@pytest.fixture
def reap() -> Iterator[Reap]:
    """Register a spawned process; whatever a failed test left running is killed with its children."""
    pids: list[int] = []
    yield pids.append
    for pid in pids:
        for victim in [*_descendants(pid), pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(victim, signal.SIGKILL)
