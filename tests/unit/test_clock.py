"""Trading-day arithmetic around the 07:30 Asia/Seoul cutoff."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from gatherer.clock import SEOUL, ManualClock, next_cutoff_ns, seoul_ns, trading_day_of


def test_cutoff_boundary() -> None:
    day = dt.date(2026, 11, 25)
    assert trading_day_of(seoul_ns(day, dt.time(7, 29, 59))) == dt.date(2026, 11, 24)
    assert trading_day_of(seoul_ns(day, dt.time(7, 30))) == day
    assert trading_day_of(seoul_ns(day, dt.time(23, 59))) == day
    assert trading_day_of(seoul_ns(day, dt.time(0, 0)), cutoff=dt.time(0, 0)) == day


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)))
def test_next_cutoff_is_after_and_starts_the_next_day(local: dt.datetime) -> None:
    ns = int(local.replace(tzinfo=SEOUL).timestamp()) * 1_000_000_000
    nxt = next_cutoff_ns(ns)
    assert nxt > ns
    assert nxt - ns <= 86_400 * 1_000_000_000
    assert trading_day_of(nxt) == trading_day_of(ns) + dt.timedelta(days=1)
    assert trading_day_of(nxt - 1) == trading_day_of(ns)


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(1_000)
    clock.advance(1.5)
    assert clock.time_ns() == 1_000 + 1_500_000_000 and clock.monotonic() == 1.5
    clock.set(clock.time_ns() + 10)
    try:
        clock.set(0)
    except ValueError:
        pass
    else:
        raise AssertionError("a ManualClock must refuse to go backwards")


def test_a_scaled_clock_rebuilt_from_its_spec_reads_the_same_time() -> None:
    from gatherer.clock import ManualClock, ScaledClock

    real = ManualClock(1_000 * 1_000_000_000)
    first = ScaledClock(5 * 1_000_000_000, 600.0, real)
    real.advance(2.0)
    start, speed, anchor = first.spec.split(":")
    # Another process, started 2 s (real) later from the same spec, is not 2 s behind.
    second = ScaledClock(int(start), float(speed), real, anchor_ns=int(anchor))
    assert second.time_ns() == first.time_ns() == 5 * 1_000_000_000 + 1200 * 1_000_000_000
    real.advance(0.5)
    assert second.time_ns() == first.time_ns() == 5 * 1_000_000_000 + 1500 * 1_000_000_000


def test_trading_days_follow_each_markets_cutoff_and_the_default_for_the_rest() -> None:
    import datetime as dt

    from gatherer.clock import SEOUL, TradingDays

    days = TradingDays({"kospi": dt.time(6, 0), "ofutures": dt.time(8, 0)})
    at_0700 = int(dt.datetime(2026, 11, 25, 7, 0, tzinfo=SEOUL).timestamp() * 1e9)
    assert days.of(at_0700, "kospi") == dt.date(2026, 11, 25)  # after its 06:00 cutoff
    assert days.of(at_0700, "stock") == dt.date(2026, 11, 25)  # a two-market stock TR goes by KOSPI's
    assert days.of(at_0700, "ofutures") == dt.date(2026, 11, 24)  # before its 08:00 cutoff
    assert days.of(at_0700, "kosdaq") == dt.date(2026, 11, 25)  # not configured: KRX's calendar date
    assert days.of(at_0700, "ooptions") == dt.date(2026, 11, 24)  # not configured, overseas: 07:30
    assert days.of(at_0700) == dt.date(2026, 11, 24)  # the journal's and the run's day: 07:30
