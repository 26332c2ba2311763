"""When each market trades: continuous-trading windows from each exchange's own clock and calendar.

The hours are data, written in the exchange's local time (``EXCHANGE_HOURS``); zoneinfo turns
them into UTC, so daylight saving is right by construction (the CME daily break is 07:00–08:00
KST in the northern winter and 06:00–07:00 KST in summer, with nothing here knowing that).
Trading dates, holidays and special days come from exchange_calendars, built for a bounded span
of whole years around the dates asked for (its defaults are relative to the real today, which a
simulated or shifted clock does not share). Where it has no such exchange, or its hours are not
the futures hours (its CME calendar is 17:00–17:00), the hours here say what trades when and the
calendar only which dates are sessions.

The windows are *session groups*: the KRX market keys (``kospi``, ``kosdaq``, ``kfutures``,
``koptions``) and one group per overseas exchange (``CME``, ``HKEX``, ``SGX``, ``EUREX``, ``OSE``),
named by LS's ``ExchCd`` in the o3101/o3121 masters (``exchange_group``). ``session_windows``
computes them for a span of Seoul dates; ``SessionWindows`` is the plain result, which is all a
worker process ever gets (over its pipe): it answers "does this group trade now" by bisection
and never loads exchange_calendars or pandas (imported only inside ``session_windows``, which
takes seconds of CPU: call it in a thread).

Shared by the collector (the supervisor computes, workers look up, ``gatherer sessions``
prints) and the simulator (which trades on the same windows), so both follow one table; the
unit tests state the expected hours literally, so a misreading cannot hide on both sides.
This module never reads the clock and does no I/O.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import warnings
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from gatherer.clock import SEOUL, seoul_ns

log = logging.getLogger(__name__)

_NS = 1_000_000_000
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Span:
    """One continuous-trading window of a trading date D, in the exchange's local time."""

    start_day: int
    """Days from D of the start (-1: CME's session for D opens the evening before)."""
    start: dt.time
    end_day: int
    end: dt.time


@dataclass(frozen=True, slots=True)
class ExchangeHours:
    """An exchange's continuous trading: local hours per trading date, dates from a calendar."""

    zone: str
    calendar: str | None
    """exchange_calendars code whose sessions are the trading dates; None: every weekday."""
    spans: tuple[Span, ...]
    early_spans: tuple[Span, ...] | None = None
    """On the calendar's early-close days; None: the spans, cut at the calendar's close."""
    shift_specials: bool = False
    """KRX: the calendar's late open and late close (the year's first session, the 수능 day) move
    every span by the same offsets."""


def _t(hhmm: str) -> dt.time:
    return dt.time.fromisoformat(hhmm)


def _span(start: str, end: str, start_day: int = 0, end_day: int = 0) -> Span:
    return Span(start_day, _t(start), end_day, _t(end))


_KRX_STOCKS = ExchangeHours(
    # Continuous trading 09:00–15:20; the auctions before (08:30) and after (15:20–15:30) are quiet
    # and not counted. The project has always watched these hours; JIF (sessions.py) corrects them.
    "Asia/Seoul",
    "XKRX",
    (_span("09:00", "15:20"),),
    shift_specials=True,
)
_KRX_DERIVATIVES = ExchangeHours(
    # KOSPI200 futures and options: continuous 08:45–15:35, then the closing auction to 15:45.
    "Asia/Seoul",
    "XKRX",
    (_span("08:45", "15:35"),),
    shift_specials=True,
)
_CME = ExchangeHours(
    # CME Globex (CME, CBOT, NYMEX, COMEX: equity, rates, FX, energy, metals): Sunday–Friday
    # 17:00–16:00 Chicago time, the session for D opening the evening before, with the daily
    # 16:00–17:00 break. exchange_calendars' CMES has the dates (Good Friday, Christmas, New Year
    # closed) and the early halts of US holidays (12:00); its own hours are 17:00–17:00, not
    # Globex's. Grains (CBOT ZC/ZS/ZW) pause 07:45–08:30 too; no product here trades them.
    "America/Chicago",
    "CMES",
    (_span("17:00", "16:00", start_day=-1),),
)
_HKEX = ExchangeHours(
    # HKFE index futures (HSI, HHI, MHI): 09:15–12:00, 13:00–16:30 and the after-hours (T+1)
    # session 17:15–03:00; on the eves of Christmas, New Year and Lunar New Year only the morning,
    # to 12:30. Dates from XHKG (the stock exchange's calendar; HKFE's holiday trading of some
    # products since 2023 is not modelled).
    "Asia/Hong_Kong",
    "XHKG",
    (_span("09:15", "12:00"), _span("13:00", "16:30"), _span("17:15", "03:00", end_day=1)),
    early_spans=(_span("09:15", "12:30"),),
)
_SGX = ExchangeHours(
    # SGX Nikkei 225 futures (NK) and the other equity-index futures: T session 07:30–14:30,
    # T+1 session 15:15–05:15 (SGX's contract specification). Dates from XSES, the stock exchange's
    # calendar, which exchange_calendars records only to its last known year; after that every
    # weekday is taken to trade (a warning says so).
    "Asia/Singapore",
    "XSES",
    (_span("07:30", "14:30"), _span("15:15", "05:15", end_day=1)),
)
_EUREX = ExchangeHours(
    # Eurex index futures (FDAX, FESX): 01:10–22:00 Frankfurt time; dates from XEUR.
    "Europe/Berlin",
    "XEUR",
    (_span("01:10", "22:00"),),
)
_OSE = ExchangeHours(
    # Osaka Exchange (JPX) Nikkei 225 futures: day session 08:45–15:45 (since 2024-11-05), night
    # session 17:00–06:00. Dates from XTKS, the Tokyo Stock Exchange's calendar (JPX's holiday
    # trading of derivatives, since 2022, is not modelled).
    "Asia/Tokyo",
    "XTKS",
    (_span("08:45", "15:45"), _span("17:00", "06:00", end_day=1)),
)

EXCHANGE_HOURS: Mapping[str, ExchangeHours] = {
    "kospi": _KRX_STOCKS,
    "kosdaq": _KRX_STOCKS,
    "kfutures": _KRX_DERIVATIVES,
    "koptions": _KRX_DERIVATIVES,
    "CME": _CME,
    "HKEX": _HKEX,
    "SGX": _SGX,
    "EUREX": _EUREX,
    "OSE": _OSE,
}
"""Session group -> its hours. KRX groups are market keys; overseas groups are exchanges."""

KRX_MARKETS = ("kospi", "kosdaq", "kfutures", "koptions")
OVERSEAS_MARKETS = ("ofutures", "ooptions")
DEFAULT_OVERSEAS_GROUP = "CME"

_EXCHANGE_CODES: Mapping[str, str] = {
    "CME": "CME",
    "CBOT": "CME",
    "NYMEX": "CME",
    "COMEX": "CME",
    "GLOBEX": "CME",
    "CBT": "CME",
    "NYM": "CME",
    "CMX": "CME",
    "HKEX": "HKEX",
    "HKFE": "HKEX",
    "SGX": "SGX",
    "SGXDT": "SGX",
    "EUREX": "EUREX",
    "EUX": "EUREX",
    "XEUR": "EUREX",
    "OSE": "OSE",
    "JPX": "OSE",
    "OSAKA": "OSE",
}
"""LS's ``ExchCd`` (o3101/o3121, LS_OPENAPI.md §4.3) -> session group. The simulator's masters use
CME, CBOT, NYMEX, COMEX, HKEX and SGX; the other spellings are the usual ones for these exchanges."""


def exchange_group(exch_cd: str) -> tuple[str, bool]:
    """The session group of an ``ExchCd`` and whether it is known. An unknown exchange gets the CME
    rule (most of what LS lists trades on CME Globex): watched nearly round the clock on weekdays,
    so a stall is still caught; callers warn once naming the code."""
    group = _EXCHANGE_CODES.get(exch_cd.strip().upper())
    return (group, True) if group is not None else (DEFAULT_OVERSEAS_GROUP, False)


KNOWN_PRODUCTS: Mapping[str, str] = {
    # futures (o3101 BscGdsCd -> ExchCd)
    "ES": "CME",
    "NQ": "CME",
    "RTY": "CME",
    "6E": "CME",
    "6J": "CME",
    "AD": "CME",
    "6B": "CME",
    "M6E": "CME",
    "YM": "CBOT",
    "ZB": "CBOT",
    "ZN": "CBOT",
    "CL": "NYMEX",
    "NG": "NYMEX",
    "GC": "COMEX",
    "SI": "COMEX",
    "HG": "COMEX",
    "HSI": "HKEX",
    "NK": "SGX",
    # options (o3121 BscGdsCd)
    "O_ES": "CME",
    "O_E1A": "CME",
    "O_NQ": "CME",
    "O_6E": "CME",
    "O_6J": "CME",
    "O_AD": "CME",
    "O_YM": "CBOT",
    "O_ZB": "CBOT",
    "O_ZN": "CBOT",
    "O_CL": "NYMEX",
    "O_NG": "NYMEX",
    "O_GC": "COMEX",
    "O_SI": "COMEX",
    "O_HG": "COMEX",
}
"""The overseas products the project knows and their exchange, for when no master is at hand
(``gatherer sessions`` without a stored master); a master's ``ExchCd`` always wins. Options
products start with ``O_`` (market ``ooptions``), the rest are futures (``ofutures``)."""


def product_market(product: str) -> str:
    return "ooptions" if product.startswith("O_") else "ofutures"


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


def master_hours(group: str, day: dt.date) -> tuple[str, str]:
    """(DlStrtTm, DlEndTm) as HHMMSS Seoul time for an overseas master row describing ``day``: the
    open and the close of the session for that trading date (the simulator's o3101/o3121)."""
    hours = EXCHANGE_HOURS[group]
    zone = ZoneInfo(hours.zone)
    first, last = hours.spans[0], hours.spans[-1]
    start = dt.datetime.combine(day + first.start_day * _DAY, first.start, zone).astimezone(SEOUL)
    end = dt.datetime.combine(day + last.end_day * _DAY, last.end, zone).astimezone(SEOUL)
    return start.strftime("%H%M%S"), end.strftime("%H%M%S")


def group_of(market: str, symbol: str, overseas: Mapping[str, str]) -> str | None:
    """The session group a registration's symbol trades in: its market for KRX, its exchange's
    group overseas (``overseas``: symbol -> group, from the masters; the CME rule when missing);
    None for what is no market (JIF's ``all``)."""
    if market in KRX_MARKETS:
        return market
    if market in OVERSEAS_MARKETS:
        return overseas.get(symbol, DEFAULT_OVERSEAS_GROUP)
    return None


def overseas_groups(rows: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """(symbol -> session group, the unknown ExchCd values) from (symbol, ExchCd) master rows."""
    out: dict[str, str] = {}
    unknown: set[str] = set()
    for symbol, exch in rows:
        group, known = exchange_group(exch)
        out[symbol] = group
        if not known:
            unknown.add(exch)
    return out, sorted(unknown)


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
