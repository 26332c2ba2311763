"""When the sink writes a day's ledger (run.sink_ledger): once its clock is past the day's cutoff and
no record of the day came for a while; again when a late record comes; at the stop, every day noted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gatherer.clock import SEOUL, ManualClock
from gatherer.run.sink_ledger import SinkLedgers

DAY = dt.date(2026, 11, 25)
EVENING = int(dt.datetime(2026, 11, 25, 20, 0, tzinfo=SEOUL).timestamp() * 1e9)
"""The evening of DAY's trading day (receive time − 07:30): its cutoff is 07:30 the next morning."""


async def test_a_finished_day_is_due_after_its_cutoff_once_quiet_and_again_after_a_late_record(
    tmp_path: Path,
) -> None:
    clock = ManualClock(EVENING)
    ledgers = SinkLedgers(tmp_path, clock, keep_days=None, quiet_s=30.0)
    ledgers.note({DAY}, now_s=100.0)
    assert ledgers.due(200.0) == []  # still the day in progress
    clock.advance(12 * 3600)  # 08:00 the next morning: past the cutoff
    assert ledgers.due(110.0) == []  # a record of it came 10 s ago: publishers may still be catching up
    assert ledgers.due(130.0) == [DAY]
    await ledgers.write_due(130.0)
    assert ledgers.written == 1 and (tmp_path / "ledger" / "date=2026-11-25" / "coverage.parquet").exists()
    assert ledgers.due(1000.0) == []
    ledgers.note({DAY}, now_s=1000.0)  # a late record (a publisher back after an outage)
    assert ledgers.due(1010.0) == [] and ledgers.due(1030.0) == [DAY]


async def test_the_stop_writes_every_day_noted_the_one_in_progress_included(tmp_path: Path) -> None:
    clock = ManualClock(EVENING)
    ledgers = SinkLedgers(tmp_path, clock, keep_days=None)
    ledgers.note({DAY - dt.timedelta(days=1), DAY}, now_s=0.0)
    await ledgers.write_all()
    assert ledgers.written == 2
    assert sorted(p.name for p in (tmp_path / "ledger").iterdir()) == ["date=2026-11-24", "date=2026-11-25"]
    await ledgers.write_all()
    assert ledgers.written == 2  # nothing noted since
