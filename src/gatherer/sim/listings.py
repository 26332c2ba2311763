"""Which contract months a venue lists on a date, and when each one stops trading.

The simulator's masters are built for the date of its clock (``build_universe(seed, as_of=…)``),
so a simulator started on any day lists what LS would list that day: a contract is listed up to
and including its last trading day and gone the day after, and the next month takes its place.

- KOSPI200 futures and options (KRX): last trading day the second Thursday of the month.
  Futures: the quarterly months (Mar/Jun/Sep/Dec); KRX lists seven of them, the simulator the
  nearest four. Options: KRX's eleven months, the four nearest non-quarterly months plus the
  nearest March and September, two Junes and three Decembers.
- Overseas futures: the product's listed-month cycle (CME month letters) with the exchange's
  last-trading-day rule (equity index: third Friday; crude: three business days before the
  business day on or before the 25th of the previous month; metals: third-last business day;
  Treasuries: seven business days before the month's last business day; currencies: two business
  days before the third Wednesday; HSI: second-last business day; SGX Nikkei: the day before the
  second Friday).
- Overseas options: consecutive months, each expiring by its product's rule (quarterly and
  serial equity options on the third Friday, week-1 Monday options on the first Monday, crude and
  gas a business day before their future, metals the fourth-last business day of the previous
  month, Treasuries the last Friday at least two business days before the previous month's last
  business day, currencies the second Friday before the third Wednesday).

Business days here are weekdays: no exchange holidays are modelled (a holiday moves a real last
trading day a day or so earlier). Pure functions of dates; nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from types import MappingProxyType

MONTH_LETTERS = "FGHJKMNQUVXZ"
"""CME month codes, January to December."""

_QUARTERLY = (3, 6, 9, 12)
_MON, _WED, _THU, _FRI = 0, 2, 3, 4

Month = tuple[int, int]
"""(year, month) of a contract."""


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The ``n``-th ``weekday`` (Monday 0) of a month, ``n`` from 1."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _is_business(day: dt.date) -> bool:
    return day.weekday() < 5


def business_days_before(day: dt.date, n: int) -> dt.date:
    """The business day ``n`` business days before ``day`` (``day`` itself not counted)."""
    out = day
    while n > 0:
        out -= dt.timedelta(days=1)
        if _is_business(out):
            n -= 1
    return out


def _on_or_before(day: dt.date) -> dt.date:
    while not _is_business(day):
        day -= dt.timedelta(days=1)
    return day


def last_business_day(year: int, month: int) -> dt.date:
    y, m = next_month((year, month))
    return _on_or_before(dt.date(y, m, 1) - dt.timedelta(days=1))


def next_month(month: Month) -> Month:
    y, m = month
    return (y + 1, 1) if m == 12 else (y, m + 1)


def prev_month(month: Month) -> Month:
    y, m = month
    return (y - 1, 12) if m == 1 else (y, m - 1)


def _months(start: dt.date) -> list[Month]:
    """Consecutive months from ``start``'s, enough for any listing here (five years)."""
    out = [(start.year, start.month)]
    while len(out) < 60:
        out.append(next_month(out[-1]))
    return out


# -- KRX: KOSPI200 futures and options --------------------------------------------------------


def k200_last_day(year: int, month: int) -> dt.date:
    """KOSPI200 futures and options: the second Thursday of the contract month."""
    return nth_weekday(year, month, _THU, 2)


def _k200_listed(as_of: dt.date) -> list[Month]:
    return [(y, m) for y, m in _months(as_of) if k200_last_day(y, m) >= as_of]


def k200_future_months(as_of: dt.date, count: int = 4) -> list[Month]:
    """The nearest ``count`` quarterly KOSPI200 futures months still trading on ``as_of``."""
    return [ym for ym in _k200_listed(as_of) if ym[1] in _QUARTERLY][:count]


def k200_option_months(as_of: dt.date) -> list[Month]:
    """KRX's eleven KOSPI200 option months on ``as_of``: four non-quarterly, one March, one
    September, two Junes and three Decembers, each the nearest still trading."""
    want = {3: 1, 6: 2, 9: 1, 12: 3}
    serial = 4
    out: list[Month] = []
    for y, m in _k200_listed(as_of):
        if m in want and want[m] > 0:
            want[m] -= 1
            out.append((y, m))
        elif m not in want and serial > 0:
            serial -= 1
            out.append((y, m))
        if serial == 0 and not any(want.values()):
            break
    return out


# -- overseas futures ---------------------------------------------------------------------------


def _third_friday(y: int, m: int) -> dt.date:
    return nth_weekday(y, m, _FRI, 3)


def _crude(y: int, m: int) -> dt.date:
    py, pm = prev_month((y, m))
    return business_days_before(_on_or_before(dt.date(py, pm, 25)), 3)


def _gas(y: int, m: int) -> dt.date:
    return business_days_before(dt.date(y, m, 1), 3)


def _metal(y: int, m: int) -> dt.date:
    return business_days_before(last_business_day(y, m), 2)


def _treasury(y: int, m: int) -> dt.date:
    return business_days_before(last_business_day(y, m), 7)


def _currency(y: int, m: int) -> dt.date:
    return business_days_before(nth_weekday(y, m, _WED, 3), 2)


def _hang_seng(y: int, m: int) -> dt.date:
    return business_days_before(last_business_day(y, m), 1)


def _sgx_nikkei(y: int, m: int) -> dt.date:
    return business_days_before(nth_weekday(y, m, _FRI, 2), 1)


LastDay = Callable[[int, int], dt.date]

FUTURE_LAST_DAY: Mapping[str, LastDay] = MappingProxyType(
    {
        **dict.fromkeys(("ES", "NQ", "YM", "RTY"), _third_friday),
        "CL": _crude,
        "NG": _gas,
        **dict.fromkeys(("GC", "SI", "HG"), _metal),
        **dict.fromkeys(("ZB", "ZN"), _treasury),
        **dict.fromkeys(("6E", "6J", "AD", "6B", "M6E"), _currency),
        "HSI": _hang_seng,
        "NK": _sgx_nikkei,
    }
)
"""Last trading day of a futures contract month, by product (BscGdsCd)."""


def future_last_day(product: str, year: int, month: int) -> dt.date:
    """A product's last trading day for a contract month; KeyError names an unknown product."""
    return FUTURE_LAST_DAY[product](year, month)


def cycle_months(cycle: str) -> tuple[int, str]:
    """A listed-month cycle: ``"HMUZ"`` (those months), ``"all"`` (every month) or ``"2+HMUZ"``
    (the two nearest months, then the cycle's, as HKEX lists HSI) -> (leading months, letters)."""
    lead, plus, letters = cycle.rpartition("+")
    if not plus:
        lead, letters = "0", cycle
    letters = MONTH_LETTERS if letters == "all" else letters
    if not lead.isdigit() or not letters or any(c not in MONTH_LETTERS for c in letters):
        raise ValueError(f"listed-month cycle {cycle!r}: expected month letters, 'all' or 'N+letters'")
    return int(lead), letters


def future_months(product: str, cycle: str, as_of: dt.date, count: int = 4) -> list[Month]:
    """The nearest ``count`` months of ``product``'s cycle still trading on ``as_of``."""
    lead, letters = cycle_months(cycle)
    out: list[Month] = []
    for y, m in _months(as_of):
        if future_last_day(product, y, m) < as_of:
            continue
        if len(out) < lead or MONTH_LETTERS[m - 1] in letters:
            out.append((y, m))
        if len(out) == count:
            break
    return out


def underlying_month(cycle: str, month: Month) -> Month:
    """The futures month an option month exercises into: the first cycle month at or after it."""
    _lead, letters = cycle_months(cycle)
    while MONTH_LETTERS[month[1] - 1] not in letters:
        month = next_month(month)
    return month


# -- overseas options ---------------------------------------------------------------------------


def _first_monday(y: int, m: int) -> dt.date:
    return nth_weekday(y, m, _MON, 1)


def _crude_option(y: int, m: int) -> dt.date:
    return business_days_before(_crude(y, m), 1)


def _gas_option(y: int, m: int) -> dt.date:
    return business_days_before(_gas(y, m), 1)


def _metal_option(y: int, m: int) -> dt.date:
    return business_days_before(last_business_day(*prev_month((y, m))), 3)


def _treasury_option(y: int, m: int) -> dt.date:
    latest = business_days_before(last_business_day(*prev_month((y, m))), 2)
    return latest - dt.timedelta(days=(latest.weekday() - _FRI) % 7)


def _currency_option(y: int, m: int) -> dt.date:
    return nth_weekday(y, m, _WED, 3) - dt.timedelta(days=12)


OPTION_EXPIRY: Mapping[str, LastDay] = MappingProxyType(
    {
        **dict.fromkeys(("O_ES", "O_NQ", "O_YM"), _third_friday),
        "O_E1A": _first_monday,
        "O_CL": _crude_option,
        "O_NG": _gas_option,
        **dict.fromkeys(("O_GC", "O_SI", "O_HG"), _metal_option),
        **dict.fromkeys(("O_ZB", "O_ZN"), _treasury_option),
        **dict.fromkeys(("O_6E", "O_6J", "O_AD"), _currency_option),
    }
)
"""Expiry (last trading day) of an option contract month, by product (BscGdsCd)."""


def option_expiry(product: str, year: int, month: int) -> dt.date:
    """An option product's expiry for a contract month; KeyError names an unknown product."""
    return OPTION_EXPIRY[product](year, month)


def option_months(product: str, as_of: dt.date, count: int = 4) -> list[Month]:
    """The nearest ``count`` consecutive option months of ``product`` not yet expired on ``as_of``."""
    return [ym for ym in _months(as_of) if option_expiry(product, *ym) >= as_of][:count]


__all__ = [
    "FUTURE_LAST_DAY",
    "MONTH_LETTERS",
    "OPTION_EXPIRY",
    "business_days_before",
    "cycle_months",
    "future_last_day",
    "future_months",
    "k200_future_months",
    "k200_last_day",
    "k200_option_months",
    "last_business_day",
    "next_month",
    "nth_weekday",
    "option_expiry",
    "option_months",
    "prev_month",
    "underlying_month",
]
