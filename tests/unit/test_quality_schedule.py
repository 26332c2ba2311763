"""Pure parts of the day's quality score and of the schedule: the day-over-day frame check, the
research-grade rule, the time covered, and which session the scheduler waits for."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gatherer.clock import SEOUL, ManualClock, ScaledClock, seoul_ns
from gatherer.config import Config
from gatherer.ledger.quality import (
    QualityRow,
    _grade,
    day_over_day,
    jif_quiet,
    market_rows,
    read_quality,
    subtract,
    time_coverage,
    write_quality,
)
from gatherer.ledger.scan import Coverage, Gap, Ledger
from gatherer.run.schedule import Scheduler, Session, next_session
from gatherer.venues.ls.hours import session_windows

DAY = dt.date(2026, 11, 25)  # a Wednesday
NS = 1_000_000_000


def _market(day: dt.date, market: str, frames: int) -> QualityRow:
    return QualityRow(day, market, "", "", "", frames)


def test_a_market_below_half_its_20_day_median_is_flagged(tmp_path: Path) -> None:
    for back in range(1, 26):  # 25 earlier days: only the last 20 count
        day = DAY - dt.timedelta(days=back)
        write_quality(
            tmp_path, day, [_market(day, "kospi", 1000 if back <= 20 else 10), _market(day, "kosdaq", 50)]
        )
    medians = day_over_day(tmp_path, DAY, {"kospi": 499, "kosdaq": 30, "ofutures": 5})
    assert medians == {"kospi": 1000, "kosdaq": 50, "ofutures": None}
    rows = {r.market: r for r in market_rows(DAY, [], {"kospi": 499, "kosdaq": 30, "ofutures": 5}, medians)}
    assert rows["kospi"].frames_low and not rows["kosdaq"].frames_low and not rows["ofutures"].frames_low
    write_quality(tmp_path, DAY, list(rows.values()))
    assert {r["market"]: r["frames_low"] for r in read_quality(tmp_path, DAY)} == {
        "kospi": True, "kosdaq": False, "ofutures": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("captured", "venue", "covered", "holes", "grade"),
    [
        (1000, 1000, 3600.0, 0, True),
        (999, 1000, 3600.0, 0, True),  # 0.999: the threshold
        (998, 1000, 3600.0, 0, False),
        (1000, 1000, 3500.0, 0, False),  # 97 % of the session covered
        (1000, 1000, 3600.0, 1, False),  # an unfilled hole
        (1000, None, 3600.0, 0, False),  # the venue did not say
    ],
)
def test_research_grade_rule(
    captured: int, venue: int | None, covered: float, holes: int, grade: bool
) -> None:
    row = QualityRow(DAY, "kospi", "trade", "005930", "S3_", 10, captured, 0, captured, venue, "t1301")
    row.traded_s, row.covered_s, row.unfilled_holes = 3600.0, covered, holes
    _grade(row)
    assert row.research_grade is grade
    assert row.time_score == pytest.approx(covered / 3600.0)


def test_time_covered_is_the_span_recorded_inside_the_windows_less_the_outages() -> None:
    at = lambda h, m: seoul_ns(DAY, dt.time(h, m))  # noqa: E731
    ledger = Ledger(DAY)
    ledger.coverage[("S3_", "005930")] = Coverage(
        "S3_", "005930", first_ns=at(8, 0), last_ns=at(15, 0), frames=9
    )
    ledger.gaps.append(Gap("g", "outage", "kospi", "trade", "S3_", ["005930"], at(10, 0), at(10, 30), "drop"))
    traded = {"kospi": [(at(9, 0), at(15, 20))]}
    ((market, (traded_s, covered_s)),) = time_coverage(ledger, traded).items()
    assert market == "kospi" and traded_s == 6 * 3600 + 20 * 60
    assert covered_s == 6 * 3600 - 30 * 60  # 09:00-15:00 recorded, 30 minutes down


def test_the_schedule_skips_the_weekend_and_a_krx_holiday() -> None:
    windows = session_windows(dt.date(2026, 8, 13), dt.date(2026, 8, 20), ["kospi", "kfutures"])
    friday_evening = seoul_ns(dt.date(2026, 8, 14), dt.time(20, 0))
    found = next_session(windows, {"kospi", "kfutures"}, friday_evening, 10 * 60 * NS, 30 * 60 * NS)
    assert found is not None and found.day == dt.date(2026, 8, 18)  # Monday the 17th is a KRX holiday
    assert found.first_group == "kfutures"  # derivatives open first, at 08:45
    assert found.open_ns == seoul_ns(found.day, dt.time(8, 45))
    assert found.start_ns == seoul_ns(found.day, dt.time(8, 35))
    assert found.close_ns == seoul_ns(found.day, dt.time(15, 35))
    assert found.end_ns == seoul_ns(found.day, dt.time(16, 5))
    # Started during the session: that day's session, already under way.
    midday = seoul_ns(dt.date(2026, 8, 18), dt.time(11, 0))
    again = next_session(windows, {"kospi"}, midday, 10 * 60 * NS, 30 * 60 * NS)
    assert again is not None and again.day == dt.date(2026, 8, 18) and again.start_ns < midday
    # Within the grace after the close it is still that day; after it, the next one.
    late = seoul_ns(dt.date(2026, 8, 18), dt.time(15, 45))
    assert next_session(windows, {"kospi"}, late, 0, 30 * 60 * NS).day == dt.date(2026, 8, 18)  # type: ignore[union-attr]
    later = seoul_ns(dt.date(2026, 8, 18), dt.time(15, 51))
    assert next_session(windows, {"kospi"}, later, 0, 30 * 60 * NS).day == dt.date(2026, 8, 19)  # type: ignore[union-attr]
    assert dt.datetime.fromtimestamp(found.open_ns / NS, SEOUL).weekday() == 1


def test_a_scaled_clock_changes_speed_where_its_spec_says_in_every_process() -> None:
    real = ManualClock(10**18)
    clock = ScaledClock(0, 2.0, real, anchor_ns=10**18, then=[(10 * NS, 100.0), (1000 * NS, 1.0)])
    assert (clock.time_ns(), clock.speed) == (0, 2.0)
    real.advance(5)
    assert (clock.time_ns(), clock.speed) == (10 * NS, 100.0)
    real.advance(9.9)
    assert clock.time_ns() == pytest.approx(1000 * NS, abs=1000) and clock.speed == 1.0
    real.advance(1)
    assert clock.time_ns() == pytest.approx(1001 * NS, abs=1000)
    again = ScaledClock.from_spec(clock.spec)  # another process: the same changes
    assert again.spec == clock.spec == f"0:2.0:{10**18}:{10 * NS}:100.0:{1000 * NS}:1.0"
    with pytest.raises(ValueError, match="time order"):
        ScaledClock(0, 1.0, real, then=[(10 * NS, 2.0), (5 * NS, 3.0)])
    with pytest.raises(ValueError):
        ScaledClock.from_spec("1:2.0:3:4")


async def test_a_scheduled_day_ends_at_its_end_on_the_injected_clock() -> None:
    clock = ManualClock(seoul_ns(DAY, dt.time(15, 0)))
    end = seoul_ns(DAY, dt.time(15, 50))
    session = Session(DAY, 0, 0, seoul_ns(DAY, dt.time(15, 20)), end, "kospi")
    said: list[str] = []
    scheduler = Scheduler(Config(), [], clock=clock, say=said.append)
    stop, day_stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(scheduler.until_end(session, stop, day_stop))
    clock.set(end - NS)
    with pytest.raises(TimeoutError):  # a second before the end: still recording
        await asyncio.wait_for(asyncio.shield(day_stop.wait()), 0.2)
    clock.set(end)
    await asyncio.wait_for(day_stop.wait(), 5)
    await task
    assert said == [f"trading day {DAY}: the last market closed at 15:20; stopping"]
    # A stop signal ends the wait at once, without the closing sentence.
    stop2, day_stop2 = asyncio.Event(), asyncio.Event()
    later = Session(DAY, 0, 0, end, end + 3600 * NS, "kospi")
    task = asyncio.create_task(scheduler.until_end(later, stop2, day_stop2))
    stop2.set()
    await asyncio.wait_for(day_stop2.wait(), 5)
    await task
    assert len(said) == 1


def test_jif_takes_a_delayed_open_and_a_halt_out_of_the_traded_time(tmp_path: Path) -> None:
    at = lambda h, m: seoul_ns(DAY, dt.time(h, m))  # noqa: E731
    said = [(8, 30, "11"), (10, 0, "21"), (11, 0, "61"), (11, 20, "63"), (15, 20, "31"), (15, 30, "41")]
    base = tmp_path / "parquet" / f"date={DAY}" / "market=all" / "channel=status"
    base.mkdir(parents=True)
    rows = {
        "recv_ns": [at(h, m) for h, m, _s in said],
        "tr_cd": ["JIF"] * len(said),
        "jangubun": ["1"] * len(said),  # KOSPI
        "jstatus": [s for _h, _m, s in said],
    }
    pq.write_table(pa.table(rows), base / "w00-0001.parquet")
    quiet = jif_quiet(tmp_path, DAY)
    end_of_day = seoul_ns(DAY + dt.timedelta(days=1), dt.time(7, 30))
    assert quiet == {"kospi": [(at(8, 30), at(10, 0)), (at(11, 0), at(11, 20)), (at(15, 20), end_of_day)]}
    traded = subtract([(at(9, 0), at(15, 20))], quiet["kospi"])
    assert traded == [(at(10, 0), at(11, 0)), (at(11, 20), at(15, 20))]  # 5 hours, not 6:20
