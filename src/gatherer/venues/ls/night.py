"""The KRX night derivatives session (야간파생, since 2025-06-09): its hours and its trading dates.

KRX runs KOSPI200 (and mini, KOSDAQ150, weekly, USD, KTB) futures and options 18:00–06:00 KST.
LS serves it on DH0 (book) and DC0 (trades), with master t8455 (LS_OPENAPI.md §3.6, §5). KRX
counts a night session as a trading date of its own, **the next KRX session date after the evening
it starts**: the session of Friday evening is Monday's, the one of the evening before a holiday is
the date after it. It holds none when its start day is a KRX holiday, and none ahead of a long
holiday (modelled here: the next session is more than ``MAX_GAP_DAYS`` calendar days away).

The evening a frame belongs to is its receive time's journal day (``clock.trading_day_of`` with
the 07:30 default): 18:00 D to 06:00 D+1 is all inside D's journal day, so one journal day holds
exactly one night session and its rows all have one trading date. ``night_trading_days`` answers
"which trading date" for receive times; ``night_sessions`` builds the XKRX calendar (seconds of
CPU, through ``hours``) on first use in a process, for whole years, and caches it.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from functools import cache
from types import MappingProxyType

from gatherer.clock import DEFAULT_CUTOFF, seoul_ns, trading_day_of

NIGHT = "night"
"""The ``session`` value of night-session rows (the session-phase column uses the same word)."""

NIGHT_GUBUN: Mapping[str, tuple[str, ...]] = MappingProxyType({"kfutures": ("NFU",), "koptions": ("NOP",)})
"""market -> the t8455 ``gubun`` values whose instruments it records at night: KOSPI200 futures
(NFU) and options (NOP), the products the day markets record. t8455 also lists NMF/NQF/NCF (mini,
KOSDAQ150, commodity futures) and NMO/NQO/NWO (mini, KOSDAQ150, weekly options): not recorded."""

ALL_GUBUN: tuple[str, ...] = ("NFU", "NMF", "NQF", "NCF", "NOP", "NMO", "NQO", "NWO")
"""Every t8455 ``gubun`` (LS_OPENAPI.md §5)."""

NIGHT_TRS: frozenset[str] = frozenset({"DH0", "DC0"})
"""The night session's real-time TRs (``catalog``: ``session == "night"``); watched by the ``knight``
session group's hours (``exchanges``)."""

DERIVATIVE_MARKETS: tuple[str, ...] = ("kfutures", "koptions")
"""The markets DH0/DC0 carry (the catalog's ``markets`` of both)."""


def derivative_market(code: str) -> str:
    """``koptions`` for a KRX option code, ``kfutures`` otherwise: the first character is the kind
    (legacy ``1`` future, ``2`` call, ``3`` put, ``4`` spread; 2026 format ``A``/``B``/``C``/``D``,
    LS_OPENAPI.md §3.2)."""
    return "koptions" if code[:1] in ("2", "3", "B", "C") else "kfutures"


START = dt.time(18, 0)
END = dt.time(6, 0)
MAX_GAP_DAYS = 4
"""A night session is held on a session's evening when the next session is at most this many days
later (a weekend with one holiday); a longer break (설날, 추석) closes it ahead of the holiday."""

_DAY = dt.timedelta(days=1)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def start_day(recv_ns: int) -> dt.date:
    """The evening (Seoul date) whose night session a receive time belongs to: its journal day."""
    return trading_day_of(recv_ns, DEFAULT_CUTOFF)


def next_session(day: dt.date, sessions: Sequence[dt.date]) -> dt.date | None:
    """The first date of sorted ``sessions`` strictly after ``day``; None past the end."""
    i = bisect_right(sessions, day)
    return sessions[i] if i < len(sessions) else None


def held(day: dt.date, sessions: Sequence[dt.date]) -> bool:
    """Whether a night session starts on ``day``'s evening: a session day whose next session is at
    most ``MAX_GAP_DAYS`` away (the last known session counts as held)."""
    i = bisect_left(sessions, day)
    if i == len(sessions) or sessions[i] != day:
        return False
    return i + 1 == len(sessions) or (sessions[i + 1] - day).days <= MAX_GAP_DAYS


def windows(first: dt.date, last: dt.date, sessions: Sequence[dt.date]) -> list[tuple[int, int]]:
    """UTC-ns spans of the night sessions starting on evenings ``first``..``last``."""
    out = []
    day = first
    while day <= last:
        if held(day, sessions):
            out.append((seoul_ns(day, START), seoul_ns(day + _DAY, END)))
        day += _DAY
    return out


@cache
def night_sessions(year: int) -> tuple[dt.date, ...]:
    """XKRX session dates of ``year`` and the next (so a December evening finds January's). Seconds
    of CPU on first use in a process (the calendar); cached, as ``decode.schema.layout`` is."""
    from gatherer.venues.ls.hours import krx_sessions

    return tuple(krx_sessions(dt.date(year, 1, 1), dt.date(year + 1, 12, 31)))


def night_date(day: dt.date) -> dt.date:
    """The trading date of the night session starting on ``day``'s evening."""
    nxt = next_session(day, night_sessions(day.year))
    # No calendar data that far: the next weekday (what exchange_calendars' fallback does too).
    if nxt is None:
        nxt = day + _DAY
        while nxt.weekday() >= 5:
            nxt += _DAY
    return nxt


def night_trading_day(recv_ns: int) -> dt.date:
    """The trading date of a night-session frame received at ``recv_ns``."""
    return night_date(start_day(recv_ns))


def night_trading_days(recv: Sequence[int]) -> list[int]:
    """Days since 1970-01-01 of each receive time's night trading date (``decode.arrow``)."""
    out: list[int] = []
    lo = hi = 0
    value = 0
    for r in recv:
        if not lo <= r < hi:
            day = start_day(r)
            lo, hi = seoul_ns(day, DEFAULT_CUTOFF), seoul_ns(day + _DAY, DEFAULT_CUTOFF)
            value = night_date(day).toordinal() - _EPOCH_ORDINAL
        out.append(value)
    return out
