"""Pure parts of the day's quality score and of the schedule: the day-over-day frame check, the
research-grade rule, the time covered, and which session the scheduler waits for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gatherer.clock import SEOUL, seoul_ns
from gatherer.ledger.quality import (
    QualityRow,
    _grade,
    day_over_day,
    market_rows,
    read_quality,
    time_coverage,
    write_quality,
)
from gatherer.ledger.scan import Coverage, Gap, Ledger
from gatherer.run.schedule import next_session
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
