"""Whether a session group trades now, for session-aware liveness.

A connection that is silent while one of its groups is in continuous trading is stalled; a
silent connection whose groups are all closed (night, weekend, holiday, the CME daily break) is
just quiet, and must not be reconnected in a storm. The groups and their hours are
``gatherer.venues.ls.hours``: KRX markets by the XKRX calendar, each overseas exchange in its own
time zone and calendar. A worker gets them as plain data (``SessionWindows``, computed by its
supervisor in a thread) and never builds a calendar on its event loop.

The calendar cannot know a delayed open, a circuit-breaker halt or a day it wrongly thinks is a
holiday; the venue's market-status feed JIF (장운영정보, LS_OPENAPI.md §3.1) does. ``MarketStatus``
puts what JIF said today on top of the windows (``jif_verdict`` maps LS's codes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import msgspec

from gatherer.clock import to_seoul
from gatherer.venues.ls.envelope import Header
from gatherer.venues.ls.hours import SessionWindows

# -- JIF ----------------------------------------------------------------------------------------

JIF_MARKETS: Mapping[str, tuple[str, ...]] = {
    "1": ("kospi",),
    "2": ("kosdaq",),
    "5": ("kfutures", "koptions"),
}
"""JIF ``jangubun`` -> our market keys. The others (6 NXT전용, 8 KRX야간파생, 9 미국주식, A–F Asian
stocks) name sessions no market key here follows; their frames are journaled and change nothing."""

Verdict = Literal["trading", "quiet", "closed"]
"""``trading``: continuous trading (silence is a stall). ``quiet``: an auction or a halt (silence is
normal, for a while). ``closed``: over for the day."""

# jstatus codes, from LS's JIF page (WEBSOCKET[기타] 실시간 시세, 장운영정보). Codes not listed say
# nothing about continuous trading (countdowns 22–25/42–44, pre/after-market 55–58 and their A2–D5
# countdowns, sidecars 64–67, derivatives' price-limit steps 70–77): the previous verdict holds.
_COMMON: Mapping[str, Verdict] = {
    "11": "quiet",  # 장전동시호가개시: the opening auction
    "21": "trading",  # 장시작
    "31": "quiet",  # 장후동시호가개시: the closing auction
    "41": "closed",  # 장마감
    "51": "quiet",  # 시간외종가매매개시
    "52": "quiet",  # 시간외종가매매종료, 시간외단일가매매개시
    "54": "quiet",  # 시간외단일가매매종료
}
_BY_JANGUBUN: Mapping[str, Mapping[str, Verdict]] = {
    # KOSPI / KOSDAQ
    "1": {
        "61": "quiet",  # 서킷브레이크1단계발동: trading halted
        "62": "quiet",  # 서킷브레이크1단계해제, 호가접수개시: an auction follows
        "63": "trading",  # 서킷브레이크1단계, 동시호가종료: continuous trading again
        "68": "quiet",  # 서킷브레이크2단계발동
        "69": "closed",  # 서킷브레이크3단계발동, 당일 장종료
        "70": "quiet",  # 서킷브레이크2단계해제, 호가접수개시
        "71": "trading",  # 서킷브레이크2단계, 동시호가종료
    },
    # 선물/옵션
    "5": {
        "61": "closed",  # 코스피관련파생상품, 당일 장종료
        "62": "quiet",  # 서킷브레이크 해제, 호가접수개시
        "63": "trading",  # 서킷브레이크, 장중동시마감: the intraday auction is over
    },
}


def jif_verdict(jangubun: str, jstatus: str) -> Verdict | None:
    """What a JIF (jangubun, jstatus) says about continuous trading; None when it says nothing."""
    by_market = _BY_JANGUBUN.get("1" if jangubun == "2" else jangubun, {})
    return by_market.get(jstatus) or _COMMON.get(jstatus)


class _JifBody(msgspec.Struct):
    jangubun: str = ""
    jstatus: str = ""


class _JifFrame(msgspec.Struct):
    header: Header | None = None  # the envelope's (venues.ls.envelope); the body is JIF's own
    body: _JifBody | None = None


_decode_jif = msgspec.json.Decoder(_JifFrame).decode


def read_jif(payload: bytes) -> tuple[str, str] | None:
    """(jangubun, jstatus) of a JIF data frame; None for anything else (acks, other TRs, junk)."""
    try:
        frame = _decode_jif(payload)
    except msgspec.DecodeError:
        return None
    if frame.header is None or frame.header.tr_cd != "JIF" or frame.body is None:
        return None
    return frame.body.jangubun, frame.body.jstatus


@dataclass(frozen=True, slots=True)
class _Said:
    verdict: Verdict
    at_ns: int
    day: dt.date


class MarketStatus:
    """Whether a session group trades: what JIF said today, else the session windows.

    A JIF verdict holds for the Seoul day it arrived on (JIF sends transitions only, so yesterday's
    close says nothing about today). A ``quiet`` one (auction, halt) is trusted for at most
    ``quiet_max_s``: a lost 장시작 must not switch stall detection off for the rest of the day; the
    longest scheduled quiet spell, a delayed opening auction, is about an hour. ``forget`` drops
    every verdict, for when the connection holding JIF was down and transitions may have been missed.

    Without windows, or at a time they do not cover (the supervisor's refresh is late), a group is
    taken to trade: a stalled connection is then reconnected every stall timeout rather than left
    dead while its market may trade. A group the windows do not name (JIF's own ``all``) never trades.
    """

    def __init__(self, windows: SessionWindows | None = None, *, quiet_max_s: float = 5400.0) -> None:
        self.windows = windows
        self._quiet_max_ns = int(quiet_max_s * 1e9)
        self._said: dict[str, _Said] = {}

    def note_jif(self, jangubun: str, jstatus: str, now_ns: int) -> tuple[str, ...]:
        """Take one JIF frame's codes; returns the markets whose verdict it set."""
        verdict = jif_verdict(jangubun, jstatus)
        markets = JIF_MARKETS.get(jangubun, ())
        if verdict is None or not markets:
            return ()
        said = _Said(verdict, now_ns, to_seoul(now_ns).date())
        for market in markets:
            self._said[market] = said
        return markets

    def forget(self) -> None:
        self._said.clear()

    def said(self, market: str, now_ns: int) -> Verdict | None:
        """The JIF verdict in force for a market now, or None (the windows decide)."""
        said = self._said.get(market)
        if said is None or said.day != to_seoul(now_ns).date():
            return None
        if said.verdict == "quiet" and now_ns - said.at_ns > self._quiet_max_ns:
            return None
        return said.verdict

    def covers(self, now_ns: int) -> bool:
        """Whether the windows know ``now_ns`` (else every group is taken to trade)."""
        return self.windows is not None and self.windows.covers(now_ns)

    def is_open(self, group: str, now_ns: int) -> bool:
        verdict = self.said(group, now_ns)
        if verdict is not None:
            return verdict == "trading"
        if self.windows is None:
            return True
        if group not in self.windows.windows:
            return False
        known = self.windows.is_open(group, now_ns)
        return True if known is None else known  # None: a time the windows do not cover

    def any_open(self, groups: Iterable[str], now_ns: int) -> bool:
        return any(self.is_open(g, now_ns) for g in groups)
