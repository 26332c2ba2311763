"""The simulator's instrument universe: every market's symbols at real sizes.

``Instrument`` is what the market model prices (``instruments``); ``build_universe`` makes the
whole universe deterministically from a seed and a date (``build``, from ``stocks`` and
``derivatives``), and ``master_rows`` renders it the way the venue's master TRs (t8436,
t8467/t8432, t8433, o3101, o3121) return it (``masters``).
"""

from gatherer.sim.universe.build import build_universe
from gatherer.sim.universe.instruments import Instrument, Universe, isin, krx_option_tick, krx_stock_tick
from gatherer.sim.universe.masters import MasterRequestError, Row, master_rows, o3101_rows

__all__ = [
    "Instrument",
    "MasterRequestError",
    "Row",
    "Universe",
    "build_universe",
    "isin",
    "krx_option_tick",
    "krx_stock_tick",
    "master_rows",
    "o3101_rows",
]
