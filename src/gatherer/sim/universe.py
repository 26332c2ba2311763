"""The simulator's instrument universe: every market's symbols at real sizes.

``Instrument`` is what the market model prices; ``build_universe`` makes the whole
universe deterministically from a seed, and ``master_rows`` renders it the way the
venue's master TRs (t8436, t8467/t8432, t8433, o3101, o3121) return it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

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

    def tick_size(self, price: Decimal) -> Decimal:
        if self.kind == "stock" or self.kind == "spac":
            return krx_stock_tick(price)
        if self.market == "koptions":
            return krx_option_tick(price)
        return self.tick
