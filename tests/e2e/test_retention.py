"""Journal retention removes a day only once its Parquet accounts for every frame."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq

from gatherer.capture import Kind, iter_records
from gatherer.clock import ManualClock, seoul_ns
from gatherer.config import MarketConfig
from gatherer.run.publish import write_checkpoint
from gatherer.run.retention import apply_retention, day_verified

from ..helpers.recording import record


async def test_a_verified_day_is_pruned_and_an_incomplete_one_is_kept(tmp_path: Path) -> None:
    await record(tmp_path, {"kosdaq": MarketConfig(max_symbols=4)}, fault_count=2)
    (day_dir,) = (tmp_path / "journal").iterdir()
    day = dt.date.fromisoformat(day_dir.name[5:])
    assert day_verified(tmp_path, day)

    # Lose one Parquet row: the day no longer verifies, and retention keeps it.
    victim = next((tmp_path / "parquet").rglob("*.parquet"))
    table = pq.read_table(victim)
    pq.write_table(table.slice(1), victim)
    assert not day_verified(tmp_path, day)
    later = ManualClock(seoul_ns(day + dt.timedelta(days=5), dt.time(12, 0)))
    report = apply_retention(tmp_path, 2, later)
    assert report.kept_unverified == (day,) and day_dir.exists()

    # Restore it. With a bus, the day must be published too: a publisher short of its end keeps it.
    pq.write_table(table, victim)
    last = max(r.seq for r in iter_records(tmp_path / "journal") if r.kind == Kind.FRAME)
    write_checkpoint(tmp_path, "w00", last - 1)
    assert apply_retention(tmp_path, 2, later, bus=True).kept_unverified == (day,) and day_dir.exists()
    write_checkpoint(tmp_path, "w00", last)
    # Now the day goes, because it is older than two days.
    report = apply_retention(tmp_path, 2, later, bus=True)
    assert report.removed == (day,) and not day_dir.exists()


def test_recent_days_are_kept_whatever_their_state(tmp_path: Path) -> None:
    day_dir = tmp_path / "journal" / "date=2026-11-25"
    day_dir.mkdir(parents=True)
    now = ManualClock(seoul_ns(dt.date(2026, 11, 26), dt.time(12, 0)))
    report = apply_retention(tmp_path, 2, now)
    assert report.removed == () and day_dir.exists()
