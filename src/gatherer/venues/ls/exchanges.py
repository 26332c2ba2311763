"""Which exchange each session group is, and when it trades: data, in the exchange's local time.

The session groups are the KRX market keys (``kospi``, ``kosdaq``, ``kfutures``, ``koptions``)
and one group per overseas exchange (``CME``, ``HKEX``, ``SGX``, ``EUREX``, ``OSE``), named by
LS's ``ExchCd`` in the o3101/o3121 masters (``exchange_group``). ``EXCHANGE_HOURS`` gives each
group's continuous-trading spans per trading date in the exchange's own time zone and the
calendar whose sessions are its trading dates; ``hours.py`` turns them into UTC windows.
``KNOWN_PRODUCTS`` names the overseas products known when no master is at hand.

Tables and pure lookups of them only: this module never reads the clock, does no I/O and never
loads exchange_calendars. Import it through ``hours``, which re-exports every name here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gatherer.clock import SEOUL

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
    night: bool = False
    """KRX night session: only evenings ``venues.ls.night.held`` says hold one (none ahead of a long
    holiday)."""


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
_KRX_NIGHT = ExchangeHours(
    # The KRX night derivatives session (DH0/DC0): 18:00–06:00 from the evening of a KRX session
    # date (venues/ls/night.py); its rows take the next session date as their trading date.
    "Asia/Seoul",
    "XKRX",
    (_span("18:00", "06:00", end_day=1),),
    night=True,
)
_NXT = ExchangeHours(
    # Nextrade (NXT) for KOSPI and KOSDAQ stocks: 08:00–20:00 on KRX's dates — the pre-market
    # 08:00–08:50, the main market 09:00:30–15:20 and the after-market 15:30–20:00 (§2.3). Shown by
    # `gatherer sessions`; the NXT feeds themselves are the venue settings' (NH1/NS3/NK1).
    "Asia/Seoul",
    "XKRX",
    (_span("08:00", "20:00"),),
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
    "knight": _KRX_NIGHT,
    "nxt": _NXT,
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
