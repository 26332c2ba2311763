"""When the simulated markets trade: each session group's phase, its activity, the JIF frames of
phase changes, and the current second's Seoul time strings.

Phases come from the shared session windows (``venues.ls.hours``), so the simulator trades when
the collector watches: KRX markets go ``closed`` -> ``preopen`` (opening auction) -> ``open`` ->
``closing_auction`` -> (stocks) ``after``; an overseas exchange is ``open`` or ``closed``. Time
comes in as ``now_ns``; nothing here reads the wall clock or draws random numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from gatherer.clock import to_seoul
from gatherer.sim.market.wire import Frame
from gatherer.sim.universe.instruments import Instrument
from gatherer.venues.ls.hours import (
    DEFAULT_OVERSEAS_GROUP,
    KNOWN_PRODUCTS,
    SessionWindows,
    exchange_group,
    session_windows,
)

_NS = 1_000_000_000
_SEOUL_OFFSET_S = 9 * 3600
"""Asia/Seoul has had no daylight saving since 1988, so Seoul wall time is UTC + 9 h."""
_DAY_CUT_S = 7 * 3600
"""A simulated trading day starts at 07:00 Seoul, before CME Globex reopens (07:00 KST under US
daylight time, 08:00 in winter) and before anything in Korea opens."""

_FAMILY = {
    "kospi": "stock",
    "kosdaq": "stock",
    "kfutures": "deriv",
    "koptions": "deriv",
    "ofutures": "overseas",
    "ooptions": "overseas",
}


def _hm(h: int, m: int) -> int:
    return h * 3600 + m * 60


# Phases around each continuous-trading window of the shared session windows (venues.ls.hours):
# the opening auction before it, the closing auction after it, then (stocks) the after-hours
# session. On a KRX holiday or weekend there is no window, so no phase but "closed" and no data.
_PREOPEN_S = {"stock": _hm(0, 30), "deriv": _hm(0, 15)}
_CLOSING_AUCTION_S = _hm(0, 10)
_AFTER_S = _hm(2, 30)
"""Stocks: after-hours trading (시간외) from the end of the closing auction, to 18:00 on a normal day."""
_SESSION_DAYS = 14
"""Seoul dates of session windows the model computes when it has none covering now."""

# JIF (§3.1): jangubun per market, and the jstatus each phase starts with.
_JIF_MARKETS = (("1", "kospi"), ("2", "kosdaq"), ("5", "kfutures"))
_JSTATUS = {
    "stock": {"preopen": "11", "open": "21", "closing_auction": "31", "after": "41"},
    "deriv": {"preopen": "11", "open": "21", "closing_auction": "31", "closed": "41"},
}
_CYCLE = {
    "stock": ("closed", "preopen", "open", "closing_auction", "after"),
    "deriv": ("closed", "preopen", "open", "closing_auction"),
}
_AUCTIONS = ("preopen", "closing_auction")
# NXT (Nextrade) on KRX trading days: pre-market 08:00–08:50, the main market with KRX's continuous
# session, after-market 15:30–20:00 (Seoul). JIF jangubun 6 announces its phases; the codes for the
# pre/after markets (55–58) are this simulator's reading of LS's "51–58 시간외/프리·애프터마켓".
_NXT_PRE = (_hm(8, 0), _hm(8, 50))
_NXT_AFTER = (_hm(15, 30), _hm(20, 0))
_NXT_CYCLE = ("closed", "nxt_pre", "nxt_gap", "open", "nxt_break", "nxt_after")
_NXT_JSTATUS = {
    "nxt_pre": "55",
    "nxt_gap": "56",
    "open": "21",
    "nxt_break": "41",
    "nxt_after": "57",
    "closed": "58",
}
_JGUBUN = {"preopen": "10", "closing_auction": "50"}
"""장운영정보 in FC0/OC0: LS's example shows "40" in the regular session; other codes are guesses."""


class Rhythm:
    """Session groups, their phases (cached per second) and activity, and the JIF transitions."""

    def __init__(
        self,
        instruments: Mapping[tuple[str, str], Instrument],
        sessions: SessionWindows | None,
        exchanges: Mapping[str, str] | None,
    ) -> None:
        self._instruments = instruments
        self._sessions = sessions
        """When each session group trades; computed here (slow, seconds) only when none covers now:
        the server computes them in a thread and renews them ahead (``set_sessions``)."""
        self._exchanges = dict(KNOWN_PRODUCTS if exchanges is None else exchanges)
        """Overseas product (BscGdsCd) -> ExchCd, as the masters give it."""
        self._phase_cache: dict[str, tuple[int, str]] = {}
        self._status: dict[str, str] = {}

    def group(self, market: str, symbol: str) -> str:
        """The session group an instrument trades in: its market for KRX, its exchange overseas."""
        if market not in ("ofutures", "ooptions"):
            return market
        inst = self._instruments.get((market, symbol))
        exch = self._exchanges.get(inst.product) if inst is not None else None
        return exchange_group(exch)[0] if exch is not None else DEFAULT_OVERSEAS_GROUP

    @property
    def sessions(self) -> SessionWindows | None:
        return self._sessions

    def set_sessions(self, sessions: SessionWindows) -> None:
        self._sessions = sessions
        self._phase_cache.clear()

    def _windows(self, now_ns: int) -> SessionWindows:
        w = self._sessions
        if w is None or not w.covers(now_ns):
            first = to_seoul(now_ns).date() - dt.timedelta(days=1)
            w = self._sessions = session_windows(first, first + dt.timedelta(days=_SESSION_DAYS - 1))
            self._phase_cache.clear()
        return w

    def phase(self, group: str, now_ns: int) -> str:
        """``closed``, ``preopen``, ``open``, ``closing_auction`` or ``after`` of a session group
        (``kospi`` … ``koptions``, or an exchange such as ``CME``) at a time; cached per second."""
        sec = now_ns // _NS
        cached = self._phase_cache.get(group)
        if cached is not None and cached[0] == sec:
            return cached[1]
        phase = self._phase_now(group, sec * _NS)
        self._phase_cache[group] = (sec, phase)
        return phase

    def _phase_now(self, group: str, now_ns: int) -> str:
        w = self._windows(now_ns)
        if group not in w.windows:
            raise ValueError(f"{group!r} is no session group; expected one of {', '.join(w.windows)}")
        family = _FAMILY.get(group, "overseas")
        if family == "overseas":
            return "open" if w.is_open(group, now_ns) else "closed"
        upcoming = w.next_window(group, now_ns)
        if upcoming is not None and now_ns >= upcoming[0] - _PREOPEN_S[family] * _NS:
            return "preopen"
        current = w.window_at(group, now_ns)
        if current is None:
            return "closed"
        end = current[1]
        if now_ns < end:
            return "open"
        if now_ns < end + _CLOSING_AUCTION_S * _NS:
            return "closing_auction"
        if family == "stock" and now_ns < end + (_CLOSING_AUCTION_S + _AFTER_S) * _NS:
            return "after"
        return "closed"

    def nxt_phase(self, now_ns: int) -> str:
        """NXT's phase: ``nxt_pre``, ``open`` (with KRX), ``nxt_after``, or ``closed`` / the gaps
        between (``nxt_gap``, ``nxt_break``); none of it on a day KRX stocks do not trade."""
        if self.phase("kospi", now_ns) == "open":
            return "open"
        sod = (now_ns // _NS + _SEOUL_OFFSET_S) % 86_400
        midnight = now_ns - sod * _NS
        window = self._windows(now_ns).next_window("kospi", midnight)
        if window is None or window[0] >= midnight + 86_400 * _NS:
            return "closed"
        if _NXT_PRE[0] <= sod < _NXT_PRE[1]:
            return "nxt_pre"
        if _NXT_AFTER[0] <= sod < _NXT_AFTER[1]:
            return "nxt_after"
        if _NXT_PRE[1] <= sod < _hm(12, 0):
            return "nxt_gap"
        if _hm(12, 0) <= sod < _NXT_AFTER[0]:
            return "nxt_break"
        return "closed"

    def activity(self, group: str, now_ns: int) -> float:
        """Relative event rate: a burst at the open decaying over ~30 min, ~1 midday, rising to the close."""
        family = _FAMILY.get(group, "overseas")
        phase = self.phase(group, now_ns)
        if (
            family == "stock"
            and phase in ("closed", "after")
            and self.nxt_phase(now_ns) in ("nxt_pre", "nxt_after")
        ):
            return 0.3
        if phase == "closed":
            return 0.0
        if family == "overseas":
            sod = (now_ns // _NS + _SEOUL_OFFSET_S) % 86_400
            if sod >= _hm(22, 30) or sod < _hm(5, 0):
                return 2.0
            return 0.6 if sod < _hm(16, 0) else 1.0
        if phase in ("preopen", "after"):
            return 0.05
        if phase == "closing_auction":
            return 0.5
        window = self._windows(now_ns).window_at(group, now_ns)
        assert window is not None  # "open" is inside one
        start, end = window[0] // _NS, window[1] // _NS
        t = now_ns // _NS - start
        rise = max(0.0, (t - (end - start - 3600)) / 3600.0)
        return 1.0 + 3.5 * math.exp(-t / 600.0) + 1.5 * rise

    def status_events(self, now_ns: int) -> list[Frame]:
        """JIF frames for every phase a market entered since the previous call.

        The first call only notes the current phases (LS sends JIF on transitions only).
        """
        out: list[Frame] = []
        for jangubun, market in _JIF_MARKETS:
            family = _FAMILY[market]
            phase = self.phase(market, now_ns)
            last = self._status.get(jangubun)
            self._status[jangubun] = phase
            if last is None or last == phase:
                continue
            cycle = _CYCLE[family]
            i = cycle.index(last)
            while True:
                i = (i + 1) % len(cycle)
                code = _JSTATUS[family].get(cycle[i])
                if code is not None:
                    out.append(("JIF", {"jangubun": jangubun, "jstatus": code}))
                if cycle[i] == phase:
                    break
        self._nxt_status(now_ns, out)
        return out

    def _nxt_status(self, now_ns: int, out: list[Frame]) -> None:
        """JIF jangubun 6 (NXT전용) for each NXT phase entered since the previous call."""
        phase = self.nxt_phase(now_ns)
        last = self._status.get("6")
        self._status["6"] = phase
        if last is None or last == phase:
            return
        i = _NXT_CYCLE.index(last)
        for _ in _NXT_CYCLE:
            i = (i + 1) % len(_NXT_CYCLE)
            out.append(("JIF", {"jangubun": "6", "jstatus": _NXT_JSTATUS[_NXT_CYCLE[i]]}))
            if _NXT_CYCLE[i] == phase:
                break


class Now:
    """The current second's Seoul time (HHMMSS) and date (YYYYMMDD) strings and trading day.

    The model renews them once a second (``tick``) instead of formatting them for every frame.
    """

    __slots__ = ("_dates", "day", "hms", "sec", "ymd")

    def __init__(self) -> None:
        self.sec = -1
        self.day = -1
        self.hms = "000000"
        self.ymd = ""
        self._dates: dict[int, str] = {}

    def tick(self, now_ns: int) -> None:
        """Per-second values: Seoul time and date strings, the trading day."""
        sec = now_ns // _NS
        self.sec = sec
        local = sec + _SEOUL_OFFSET_S
        sod = local % 86_400
        self.hms = f"{sod // 3600:02d}{sod % 3600 // 60:02d}{sod % 60:02d}"
        self.ymd = self.date(local // 86_400)
        self.day = (local - _DAY_CUT_S) // 86_400

    def date(self, day: int) -> str:
        """YYYYMMDD of a day number (days since 1970-01-01), cached."""
        text = self._dates.get(day)
        if text is None:
            if len(self._dates) > 1024:
                self._dates.clear()
            text = self._dates[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).strftime("%Y%m%d")
        return text
