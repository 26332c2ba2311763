"""When each market trades: continuous-trading windows from each exchange's own clock and calendar.

The hours are data, written in the exchange's local time (``EXCHANGE_HOURS``, in
``exchanges.py``); zoneinfo turns them into UTC, so daylight saving is right by construction (the
CME daily break is 07:00–08:00 KST in the northern winter and 06:00–07:00 KST in summer, with
nothing here knowing that). Trading dates, holidays and special days come from exchange_calendars,
built for a bounded span of whole years around the dates asked for (its defaults are relative to
the real today, which a simulated or shifted clock does not share). Where it has no such exchange,
or its hours are not the futures hours (its CME calendar is 17:00–17:00), the hours say what
trades when and the calendar only which dates are sessions.

The windows are per *session group* (a KRX market key or an overseas exchange, see
``exchanges.py``). ``session_windows`` computes them for a span of Seoul dates; ``SessionWindows``
is the plain result, which is all a worker process ever gets (over its pipe): it answers "does
this group trade now" by bisection and never loads exchange_calendars or pandas (imported only
inside ``session_windows``, which takes seconds of CPU: call it in a thread).

Shared by the collector (the supervisor computes, workers look up, ``gatherer sessions``
prints) and the simulator (which trades on the same windows), so both follow one table; the
unit tests state the expected hours literally, so a misreading cannot hide on both sides.
Every name of ``exchanges.py`` is re-exported here, so callers import the hours from one place.
This module never reads the clock and does no I/O.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import warnings
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from gatherer.clock import SEOUL, seoul_ns
from gatherer.venues.ls.exchanges import (
    DEFAULT_OVERSEAS_GROUP,
    EXCHANGE_HOURS,
    KNOWN_PRODUCTS,
    KRX_MARKETS,
    OVERSEAS_MARKETS,
    ExchangeHours,
    Span,
    exchange_group,
    group_of,
    master_hours,
    overseas_groups,
    product_market,
)

__all__ = [
    "DEFAULT_OVERSEAS_GROUP",
    "EXCHANGE_HOURS",
    "KNOWN_PRODUCTS",
    "KRX_MARKETS",
    "OVERSEAS_MARKETS",
    "ExchangeHours",
    "SessionWindows",
    "Span",
    "day_windows",
    "exchange_group",
    "group_of",
    "krx_sessions",
    "latest_trading_day",
    "master_hours",
    "overseas_groups",
    "product_market",
    "seoul_text",
    "session_windows",
]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
_DAY = dt.timedelta(days=1)


# Dates of the 수능 (CSAT), when KRX opens and closes an hour late. exchange_calendars' XKRX has them
# only to 2020; these are the Ministry of Education's announced dates since. A missing one costs
# an hour of early watching at most, and JIF (sessions.py) says the truth on the day.
_CSAT_DAYS = frozenset(
    dt.date.fromisoformat(d)
    for d in ("2021-11-18", "2022-11-17", "2023-11-16", "2024-11-14", "2025-11-13", "2026-11-19")
)


# -- the result: plain data ----------------------------------------------------------------------


class SessionWindows(msgspec.Struct, frozen=True):
    """Continuous-trading windows per session group over ``[from_ns, to_ns)``, UTC nanoseconds.

    Each group's list is sorted and non-overlapping. A group with no windows in the span is still
    a key (it does not trade then); a group that is not a key is not one this knows.
    """

    from_ns: int
    to_ns: int
    windows: dict[str, list[tuple[int, int]]]

    def covers(self, now_ns: int) -> bool:
        return self.from_ns <= now_ns < self.to_ns

    def is_open(self, group: str, now_ns: int) -> bool | None:
        """Whether the group trades at ``now_ns``; None when that is outside the span or the group
        unknown (the caller decides what not knowing means)."""
        spans = self.windows.get(group)
        if spans is None or not self.from_ns <= now_ns < self.to_ns:
            return None
        i = bisect_right(spans, now_ns, key=_start) - 1
        return i >= 0 and now_ns < spans[i][1]

    def window_at(self, group: str, now_ns: int) -> tuple[int, int] | None:
        """The group's window that starts last at or before ``now_ns`` (open or already ended)."""
        spans = self.windows.get(group)
        if not spans:
            return None
        i = bisect_right(spans, now_ns, key=_start) - 1
        return spans[i] if i >= 0 else None

    def next_window(self, group: str, now_ns: int) -> tuple[int, int] | None:
        """The group's first window starting after ``now_ns``."""
        spans = self.windows.get(group)
        if not spans:
            return None
        i = bisect_right(spans, now_ns, key=_start)
        return spans[i] if i < len(spans) else None


def _start(span: tuple[int, int]) -> int:
    return span[0]


# -- computing them ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Day:
    """One trading date as a calendar gives it."""

    day: dt.date
    open_shift: dt.timedelta = dt.timedelta(0)
    close_shift: dt.timedelta = dt.timedelta(0)
    close: dt.datetime | None = None
    """The calendar's close that day, exchange local time (for cutting an early close)."""


def session_windows(first: dt.date, last: dt.date, groups: Iterable[str] | None = None) -> SessionWindows:
    """The windows of ``groups`` (default: all of ``EXCHANGE_HOURS``) from 00:00 KST of ``first`` to
    24:00 KST of ``last``. Seconds of CPU on first use in a process (the XKRX calendar): call it in
    a thread. Unknown group names are a ValueError."""
    if last < first:
        raise ValueError(f"session_windows: last {last} is before first {first}")
    wanted = list(EXCHANGE_HOURS) if groups is None else sorted(set(groups))
    unknown = [g for g in wanted if g not in EXCHANGE_HOURS]
    if unknown:
        raise ValueError(f"unknown session group(s) {unknown}; expected some of {', '.join(EXCHANGE_HOURS)}")
    from_ns, to_ns = seoul_ns(first, dt.time(0)), seoul_ns(last + _DAY, dt.time(0))
    # Trading dates a few days either side: a CME session opens the evening before its date, an
    # SGX or HKEX T+1 session ends the morning after, and time zones move dates by up to a day.
    lo, hi = first - 3 * _DAY, last + 3 * _DAY
    days: dict[str | None, list[_Day]] = {}
    out: dict[str, list[tuple[int, int]]] = {}
    for group in wanted:
        hours = EXCHANGE_HOURS[group]
        if hours.calendar not in days:
            days[hours.calendar] = _trading_days(hours.calendar, lo, hi)
        out[group] = _merge_clip(_spans_ns(hours, days[hours.calendar]), from_ns, to_ns)
    return SessionWindows(from_ns, to_ns, out)


def _spans_ns(hours: ExchangeHours, days: list[_Day]) -> list[tuple[int, int]]:
    zone = ZoneInfo(hours.zone)
    out: list[tuple[int, int]] = []
    if hours.night:
        from gatherer.venues.ls.night import held, night_sessions

        days = [d for d in days if held(d.day, night_sessions(d.day.year))]
    for d in days:
        spans = hours.spans
        early = d.close is not None and d.close_shift < dt.timedelta(0)
        if early and hours.early_spans is not None:
            spans = hours.early_spans
        for span in spans:
            start = dt.datetime.combine(d.day + span.start_day * _DAY, span.start, zone)
            end = dt.datetime.combine(d.day + span.end_day * _DAY, span.end, zone)
            if hours.shift_specials:
                start, end = start + d.open_shift, end + d.close_shift
            elif early and hours.early_spans is None and d.close is not None:
                end = min(end, d.close)
            if end > start:
                out.append((_utc_ns(start), _utc_ns(end)))
    return out


def krx_sessions(lo: dt.date, hi: dt.date) -> list[dt.date]:
    """The XKRX session dates in ``[lo, hi]``, sorted (weekdays where the calendar has no data).
    Seconds of CPU on first use in a process."""
    return [d.day for d in _trading_days("XKRX", lo, hi)]


def _utc_ns(local: dt.datetime) -> int:
    return int(local.timestamp()) * _NS


def _merge_clip(spans: list[tuple[int, int]], from_ns: int, to_ns: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        start, end = max(start, from_ns), min(end, to_ns)
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _weekdays(lo: dt.date, hi: dt.date) -> list[dt.date]:
    return [lo + i * _DAY for i in range((hi - lo).days + 1) if (lo + i * _DAY).weekday() < 5]


def _trading_days(code: str | None, lo: dt.date, hi: dt.date) -> list[_Day]:
    """Trading dates in ``[lo, hi]`` with their special opens and closes; weekdays where the
    calendar has no data (a warning names the dates)."""
    if code is None:
        return [_Day(d) for d in _weekdays(lo, hi)]
    with warnings.catch_warnings():
        # exchange_calendars trips pandas' own deprecation warnings on newer pandas; they say
        # nothing about the calendar's content (and the test suite runs with warnings as errors).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return _calendar_days(code, lo, hi)


def _calendar_days(code: str, lo: dt.date, hi: dt.date) -> list[_Day]:
    import exchange_calendars

    cls: Any = getattr(importlib.import_module(f"exchange_calendars.exchange_calendar_{code.lower()}"),
                       f"{code}ExchangeCalendar")  # fmt: skip
    # Whole years around the dates: bounded and explicit (the defaults follow the real today), and
    # the same arguments for every call within a year, so exchange_calendars' own cache answers.
    start, end = dt.date(lo.year, 1, 1), dt.date(hi.year, 12, 31)
    bound_min, bound_max = cls.bound_min(), cls.bound_max()
    if bound_min is not None:
        start = max(start, bound_min.date())
    if bound_max is not None:
        end = min(end, bound_max.date())
    covered_lo, covered_hi = max(lo, start), min(hi, end)
    if covered_lo > covered_hi:
        _warn_no_data(code, lo, hi)
        return [_Day(d) for d in _weekdays(lo, hi)]
    outside = [d for d in _weekdays(lo, hi) if not covered_lo <= d <= covered_hi]
    if outside:
        _warn_no_data(code, outside[0], outside[-1])
    cal = exchange_calendars.get_calendar(code, start=start.isoformat(), end=end.isoformat())
    zone = ZoneInfo(str(cal.tz))
    open_regular, close_regular = cls.open_times[-1][1], cls.close_times[-1][1]
    schedule = cal.schedule.loc[covered_lo.isoformat() : covered_hi.isoformat()]
    found: list[_Day] = [_Day(d) for d in outside]
    for label, row in schedule.iterrows():
        day = label.date()
        opened = row["open"].to_pydatetime().astimezone(zone)
        closed = row["close"].to_pydatetime().astimezone(zone)
        open_shift = opened.replace(tzinfo=None) - dt.datetime.combine(opened.date(), open_regular)
        close_shift = closed.replace(tzinfo=None) - dt.datetime.combine(closed.date(), close_regular)
        if code == "XKRX" and day in _CSAT_DAYS and open_shift == close_shift == dt.timedelta(0):
            open_shift = close_shift = dt.timedelta(hours=1)
        found.append(_Day(day, open_shift, close_shift, closed))
    return sorted(found, key=lambda d: d.day)


def _warn_no_data(code: str, first: dt.date, last: dt.date) -> None:
    log.warning(
        "exchange_calendars' %s calendar has no dates for %s to %s: every weekday is taken to trade"
        " then (upgrade exchange_calendars for its holidays)",
        code,
        first,
        last,
    )


# -- for people --------------------------------------------------------------------------------


def seoul_text(ns: int) -> str:
    """ISO 8601 at +09:00, seconds precision: ``2026-12-02T07:00:00+09:00``."""
    return dt.datetime.fromtimestamp(ns // _NS, tz=SEOUL).isoformat()


def day_windows(windows: SessionWindows, group: str, day: dt.date) -> list[tuple[int, int]]:
    """The group's windows clipped to one Seoul date (a window across midnight shows on both)."""
    lo, hi = seoul_ns(day, dt.time(0)), seoul_ns(day + _DAY, dt.time(0))
    return [(max(s, lo), min(e, hi)) for s, e in windows.windows.get(group, []) if s < hi and e > lo]


def latest_trading_day(group: str, day: dt.date) -> dt.date:
    """The latest Seoul date on or before ``day`` with trading in ``group`` (a KRX market: its last
    session), looking back at most three weeks; for starting a simulator on a day that trades.
    Seconds of CPU on first use: call it in a thread."""
    windows = session_windows(day - dt.timedelta(days=21), day, [group])
    for back in range(22):
        candidate = day - dt.timedelta(days=back)
        if day_windows(windows, group, candidate):
            return candidate
    return day
