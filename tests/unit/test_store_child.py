"""The store process (``gatherer _store``): it imports only what it runs (memory, issue 16), and
it catches up on a backlog without pausing between polls.

Whatever a module imports stays resident in every process that imports it; the store child used
to reach DuckDB (the ledger's tape), aiohttp and picows (the worker) through ``run.pipeline``,
~40 MB of its ~280 MB at 5,000 frames/s (bench/live_store --soak).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gatherer.run.store as store_mod
from gatherer.capture import Journal, JournalSettings, Kind, Record
from gatherer.clock import SEOUL, ManualClock
from tests.conftest import ls_example

HEAVY = ("duckdb", "aiohttp", "picows", "gatherer.run.worker", "gatherer.run.pipeline", "gatherer.plan")


def test_the_store_process_imports_neither_the_worker_nor_duckdb() -> None:
    # What `python -m gatherer _store` imports: the command line, then the store's entry point.
    code = "import sys, gatherer.cli, gatherer.run.store_child; print('\\n'.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=99)
    modules = set(run.stdout.split())
    assert "gatherer.run.store" in modules and "pyarrow" in modules  # it did import the store
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == [], f"the store process imports {heavy}: keep them out of its import chain"


async def _journal(root: Path, n: int) -> None:
    """``n`` frames in small blocks (many polls' worth), journaled as a worker would."""
    body = ls_example("H1_")["response"]
    clock = ManualClock(int(dt.datetime(2026, 11, 25, 10, tzinfo=SEOUL).timestamp() * 1e9))
    journal = await Journal.open(root, "w00", clock=clock, settings=JournalSettings(block_bytes=16_384))
    for _ in range(n):
        journal.append(Kind.FRAME, "w00-c000", json.dumps(body).encode(), clock.time_ns())
    await journal.close()


async def test_a_backlog_is_read_without_a_pause_between_full_polls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's iterator pauses between polls (50 ms in the store process); while polls come
    back full the store reads on at once (run.store.BACKLOG_S), so catching up is not paced."""
    await _journal(tmp_path, 1500)
    monkeypatch.setattr(store_mod, "POLL_RECORDS", 100)
    store = store_mod.Store(tmp_path, "w00", version="t", venue="t")
    ticks, polls = 0, 0

    def stop_requested() -> Iterator[bool]:
        nonlocal ticks
        while True:
            ticks += 1
            yield True

    tail = store_mod.JournalTail(tmp_path, "w00", read_bytes=4096)
    poll = tail.poll

    def counted() -> list[Record]:
        nonlocal polls
        polls += 1
        return poll()

    monkeypatch.setattr(tail, "poll", counted)
    store_mod.follow(tail, store, stop_requested=stop_requested(), now=lambda: 0.0)
    assert store.stats.records == 1500 and store.stats.rows == 1500
    assert polls >= 5 and ticks <= 2  # one pass over the backlog, one poll finding nothing more


STORE_WITHOUT_PANDAS = """
import datetime as dt, json, sys, tempfile
from pathlib import Path
from gatherer.run.store_child import keep_pandas_out
keep_pandas_out()
from gatherer.capture import Kind, Record
from gatherer.run.store import Store
payload = sys.argv[1].encode()
store = Store(Path(tempfile.mkdtemp()), "w00", version="t", venue="t")
store.add([Record(Kind.FRAME, i, 1_780_000_000_000_000_000 + i, "c", payload) for i in range(100)])
store.checkpoint()
print(store.stats.rows, "pandas" in sys.modules)
from gatherer.venues.ls.night import night_date  # the night session's calendar: exchange_calendars
print(night_date(dt.date(2026, 11, 25)).isoformat(), "pandas" in sys.modules)
"""


def test_the_store_process_keeps_pandas_out_but_the_trading_calendar_still_has_it() -> None:
    payload = json.dumps(ls_example("H1_")["response"])
    run = subprocess.run(
        [sys.executable, "-c", STORE_WITHOUT_PANDAS, payload], capture_output=True, text=True, timeout=99
    )
    assert run.returncode == 0, run.stderr
    stored, night = run.stdout.split("\n")[:2]
    assert stored == "100 False"  # rows written, pyarrow never imported pandas
    assert night == "2026-11-26 True"  # exchange_calendars imported it when needed
