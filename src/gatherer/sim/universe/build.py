"""The whole simulated universe for a (seed, date): stocks first, then KRX derivatives, then
overseas ones, all from one generator so the order of draws, and so the universe, never changes.

The derivatives listed are those trading on the date (``as_of``, the simulator clock's Seoul
date; ``sim/listings.py`` has the calendars): 4 KOSPI200 futures and their 3 calendar
spreads, 11 KOSPI200 option months × 238 strikes × call/put (5,236 codes), 4 months of each of
18 overseas futures (72) and 4 months × 150 strikes × call/put of 14 overseas option
products (16,800). Stocks (2,401 KOSPI, 1,811 KOSDAQ) depend on the seed only.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from types import MappingProxyType

from gatherer.sim.universe.derivatives import _kfutures, _koptions, _overseas
from gatherer.sim.universe.instruments import OverseasProduct, Universe
from gatherer.sim.universe.stocks import _stocks


def build_universe(seed: int = 0, *, as_of: dt.date) -> Universe:
    """The whole simulated universe as listed on ``as_of``; the same for the same (seed, as_of).

    ``as_of`` is the simulator clock's Seoul date: derivatives roll with it (``sim/listings``);
    the stocks depend on the seed alone.
    """
    rnd = random.Random(seed)
    used_codes: set[str] = set()
    used_names: set[str] = set()
    prev: dict[str, tuple[Decimal, Decimal]] = {}
    products: dict[str, OverseasProduct] = {}
    kospi = _stocks(rnd, "kospi", used_codes, used_names)
    kosdaq = _stocks(rnd, "kosdaq", used_codes, used_names)
    kfutures = _kfutures(rnd, as_of, prev)
    koptions = _koptions(rnd, as_of, prev)
    ofutures, ooptions = _overseas(rnd, as_of, products)
    instruments = {
        "kospi": tuple(kospi),
        "kosdaq": tuple(kosdaq),
        "kfutures": tuple(kfutures),
        "koptions": tuple(koptions),
        "ofutures": tuple(ofutures),
        "ooptions": tuple(ooptions),
    }
    return Universe(
        instruments=MappingProxyType(instruments),
        as_of=as_of,
        products=MappingProxyType(products),
        prev_range=MappingProxyType(prev),
    )
