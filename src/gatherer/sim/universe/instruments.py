"""What the simulator lists: ``Instrument`` (one tradable series), ``OverseasProduct`` and the
``Universe`` that holds every market's instruments, with the KRX price grids and limits they obey.

Values only: making a universe is ``build``'s job and rendering it for the master TRs is
``masters``'.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

MARKETS: tuple[str, ...] = ("kospi", "kosdaq", "kfutures", "koptions", "ofutures", "ooptions")


def krx_stock_tick(price: Decimal) -> Decimal:
    """KRX stock tick size at a price (the grid in force since 2023-01-25)."""
    if price < 2_000:
        return Decimal(1)
    if price < 5_000:
        return Decimal(5)
    if price < 20_000:
        return Decimal(10)
    if price < 50_000:
        return Decimal(50)
    if price < 200_000:
        return Decimal(100)
    if price < 500_000:
        return Decimal(500)
    return Decimal(1_000)


def krx_option_tick(price: Decimal) -> Decimal:
    """KOSPI200 option premium tick: 0.01 below 10 points, 0.05 from 10."""
    return Decimal("0.01") if price < 10 else Decimal("0.05")


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable series as the simulator models it."""

    market: str
    """One of MARKETS."""
    symbol: str
    """The venue's code, unpadded: ``005930``, ``A0166000``, ``B0168872``, ``ESZ26``, ``2ESF27_5000``."""
    name: str
    ref_price: Decimal
    """Previous close, on the tick grid; the day's prices start here."""
    scale: int
    """Decimal places of prices on the wire: 0 for KRX stocks, 2 for KRX derivatives, DotGb overseas."""
    kind: str
    """``stock``, ``etf``, ``etn``, ``spac``, ``future``, ``spread``, ``call`` or ``put``."""
    tick: Decimal
    """Fixed tick size; ignored for KRX stocks, whose grid depends on the price."""
    product: str = ""
    """Derivative product (``K200``, ``ES``, ``O_ES``); empty for stocks."""
    expiry: str = ""
    """YYYYMM for derivatives; empty for stocks."""
    strike: Decimal | None = None
    last_day: dt.date | None = None
    """Derivatives: the last trading day (expiry) of the contract; None for stocks and spreads."""

    def tick_size(self, price: Decimal) -> Decimal:
        if self.kind == "stock" or self.kind == "spac":
            return krx_stock_tick(price)
        if self.market == "koptions":
            return krx_option_tick(price)
        return self.tick


@dataclass(frozen=True, slots=True)
class OverseasProduct:
    """One overseas futures or options product as o3101/o3121 describe it."""

    code: str
    """BscGdsCd: ``ES`` for futures, ``O_ES`` for options."""
    name: str
    exch: str
    exch_name: str
    currency: str
    gds_cd: str
    tick: Decimal
    tick_value: Decimal
    dot_gb: int
    contract_amount: Decimal
    margin: Decimal
    start_time: str
    end_time: str
    ref_price: Decimal
    """Underlying price around which expiries and strikes are generated."""
    strike_step: Decimal = Decimal(0)
    """Options only: distance between strikes."""
    vol: float = 0.2
    cycle: str = "all"
    """The futures' listed-month cycle (``sim/listings.cycle_months``); an option product has its
    underlying's, which is how an option month finds the future it exercises into."""


@dataclass(frozen=True, slots=True)
class Universe:
    """Every market's instruments plus what the master TRs need beyond ``Instrument``."""

    instruments: Mapping[str, tuple[Instrument, ...]]
    """Instruments by market key (one of MARKETS), in master order."""
    as_of: dt.date
    """The date the masters describe (their ApplDate): what was listed that day."""
    products: Mapping[str, OverseasProduct]
    """Overseas futures (``ES``) and option (``O_ES``) products by BscGdsCd."""
    prev_range: Mapping[str, tuple[Decimal, Decimal]]
    """KRX derivatives: (jnilhigh, jnillow) per symbol."""


K200_LEVEL = Decimal("870.00")


def isin(prefix: str, body: str) -> str:
    """An ISIN (12 chars) from its country/type prefix and body, with the Luhn check digit."""
    base = prefix + body
    digits = "".join(str(int(c, 36)) for c in base)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return base + str((10 - total % 10) % 10)


def _snap_down(value: Decimal, tick: Decimal) -> Decimal:
    return (value / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


def _snap_up(value: Decimal, tick: Decimal) -> Decimal:
    return (value / tick).to_integral_value(rounding=ROUND_CEILING) * tick


def _snap_stock(value: Decimal) -> Decimal:
    return max(Decimal(1), _snap_down(value, krx_stock_tick(value)))


def stock_limits(ref: Decimal, kind: str) -> tuple[Decimal, Decimal]:
    """KRX daily limits (±30%), on the grid: (uplmtprice, dnlmtprice)."""
    if kind in ("etf", "etn"):
        return _snap_down(ref * Decimal("1.3"), Decimal(5)), _snap_up(ref * Decimal("0.7"), Decimal(5))
    up = ref * Decimal("1.3")
    down = ref * Decimal("0.7")
    return _snap_down(up, krx_stock_tick(up)), _snap_up(down, krx_stock_tick(down))
