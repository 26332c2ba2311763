"""When each market should be streaming, for session-aware liveness.

A connection that is silent while one of its markets is in continuous trading is stalled; a
silent connection whose markets are all closed (night, weekend, holiday, the overseas
daily break) is just quiet, and must not be reconnected in a storm. Times are Asia/Seoul:

- kospi, kosdaq: 09:00–15:20 on KRX sessions (the calendar is exchange_calendars' XKRX,
  which knows Korean holidays); the call auctions before and after are quieter and not
  counted.
- kfutures, koptions: 08:45–15:35 on KRX sessions.
- ofutures, ooptions: CME Globex hours seen from Seoul, Monday 07:00 to Saturday 06:00, except
  the daily 06:00–07:00 break (one rule for all products: per-product hours are a refinement).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable

from gatherer.clock import to_seoul

_KRX_HOURS = {
    "kospi": (dt.time(9, 0), dt.time(15, 20)),
    "kosdaq": (dt.time(9, 0), dt.time(15, 20)),
    "kfutures": (dt.time(8, 45), dt.time(15, 35)),
    "koptions": (dt.time(8, 45), dt.time(15, 35)),
}
_OVERSEAS = ("ofutures", "ooptions")


class SessionCalendar:
    """Whether markets are in continuous trading at a time. Loads the KRX calendar on first use."""

    def __init__(self, krx_sessions: Iterable[dt.date] | None = None) -> None:
        self._krx: set[dt.date] | None = set(krx_sessions) if krx_sessions is not None else None

    def _krx_session(self, day: dt.date) -> bool:
        if self._krx is None:
            with warnings.catch_warnings():
                # exchange_calendars trips pandas' own deprecation warnings on newer pandas;
                # they say nothing about the calendar's content.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                import exchange_calendars

                calendar = exchange_calendars.get_calendar("XKRX")
            self._krx = {ts.date() for ts in calendar.sessions}
        return day in self._krx

    def is_open(self, market: str, now_ns: int) -> bool:
        local = to_seoul(now_ns)
        if market in _KRX_HOURS:
            start, end = _KRX_HOURS[market]
            return start <= local.time() < end and self._krx_session(local.date())
        if market in _OVERSEAS:
            weekday, t = local.weekday(), local.time()
            if dt.time(6, 0) <= t < dt.time(7, 0):
                return False
            if weekday == 6 or (weekday == 5 and t >= dt.time(6, 0)):
                return False  # Saturday from 06:00, Sunday
            return not (weekday == 0 and t < dt.time(7, 0))  # Monday before the open
        return False

    def any_open(self, markets: Iterable[str], now_ns: int) -> bool:
        return any(self.is_open(m, now_ns) for m in markets)
