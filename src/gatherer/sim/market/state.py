"""What the market model knows about one instrument: its book, its tapes, its broker tables,
and what one trade event did.

``_State`` is made lazily, the first time an instrument is asked for, and holds the book on the
instrument's tick grid (10 levels for KRX stocks, 5 for derivatives and overseas), one ``_Tape``
per venue (KRX, NXT and 통합 for stocks), broker tables, and the per-TR bodies last rendered. The
classes here store values; moving the book is ``books``' job and rendering the frames is the
family modules'. Nothing here draws random numbers or reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from zoneinfo import ZoneInfo

from gatherer.sim.market.brokers import _Brokers, _Ranks
from gatherer.sim.market.wire import _decimals, _PriceStrs, _Shown
from gatherer.sim.universe.instruments import Instrument

ChangeFn = Callable[["_State", int], tuple[str, str, str]]
"""The model's (sign code, change, rate) of a price against the reference, as its frames show them."""

_SQRT12 = math.sqrt(12.0)
"""A uniform variable on [-0.5, 0.5) times this has unit variance."""


def _krx_stock_tick(p: int) -> int:
    if p < 2_000:
        return 1
    if p < 5_000:
        return 5
    if p < 20_000:
        return 10
    if p < 50_000:
        return 50
    if p < 200_000:
        return 100
    if p < 500_000:
        return 500
    return 1_000


class _Tape:
    """One venue's view of the day's prints for one instrument."""

    __slots__ = (
        "cgubun",
        "chetime",
        "cvol",
        "high",
        "hightime",
        "low",
        "lowtime",
        "mdcnt",
        "mdvol",
        "mscnt",
        "msvol",
        "open",
        "opentime",
        "price",
        "value",
        "volume",
    )

    def __init__(self, price: int) -> None:
        self.price = price
        self.open = self.high = self.low = 0
        self.opentime = self.hightime = self.lowtime = self.chetime = "000000"
        self.volume = self.value = self.mdvol = self.mdcnt = self.msvol = self.mscnt = self.cvol = 0
        self.cgubun = "+"

    def record(self, price: int, qty: int, notional: int, buy: bool | None, hms: str) -> None:
        """Add one print; ``buy`` None is an auction print, which moves neither side's totals."""
        if self.volume == 0:
            self.open = self.high = self.low = price
            self.opentime = self.hightime = self.lowtime = hms
        elif price > self.high:
            self.high, self.hightime = price, hms
        elif price < self.low:
            self.low, self.lowtime = price, hms
        self.price = price
        self.volume += qty
        self.value += notional
        self.cvol = qty
        self.chetime = hms
        if buy is None:
            self.cgubun = "+"
        elif buy:
            self.msvol += qty
            self.mscnt += 1
            self.cgubun = "+"
        else:
            self.mdvol += qty
            self.mdcnt += 1
            self.cgubun = "-"


class _State:
    """Everything the model knows about one instrument."""

    __slots__ = (
        "ask_cnt",
        "ask_nxt",
        "ask_px",
        "ask_qty",
        "auction_vol",
        "basis_t",
        "bid_cnt",
        "bid_nxt",
        "bid_px",
        "bid_qty",
        "brokers",
        "changes",
        "day",
        "depth",
        "fair",
        "family",
        "fref",
        "fstep",
        "group",
        "hi",
        "impv",
        "inst",
        "jnil_ratio",
        "krx",
        "lo",
        "nxt",
        "openyak",
        "openyak0",
        "order_qty",
        "pcache",
        "qty_mean",
        "ranks",
        "ref",
        "scale",
        "shown",
        "strike",
        "tick",
        "unit",
        "unt",
        "vi_ref",
        "vi_until_ns",
        "years",
        "yeprice",
        "zone",
    )

    def __init__(self, inst: Instrument, family: str) -> None:
        self.inst = inst
        self.family = family
        self.depth = 10 if family == "stock" else 5
        self.scale = max(inst.scale, _decimals(inst.tick))
        unit = self.unit = 10**self.scale
        self.strike = float(inst.strike or 0)
        self.ref = int(inst.ref_price * unit)
        self.tick = self._tick_fn(inst, unit)
        self.lo, self.hi = self._limits()
        self.pcache = _PriceStrs(self.scale)
        self.shown: dict[str, _Shown] = {}
        self.ranks: dict[str, _Ranks] = {}
        self.changes: dict[int, tuple[str, str, str]] = {}
        self.fair = self.fref = float(self.ref)
        self.fstep = self.fref * 0.0015 * _SQRT12
        self.krx = _Tape(self.ref)
        self.nxt = _Tape(self.ref)
        self.unt = _Tape(self.ref)
        self.brokers = {"krx": _Brokers(), "nxt": _Brokers()}
        self.ask_px: list[int] = []
        self.ask_qty: list[int] = []
        self.ask_cnt: list[int] = []
        self.ask_nxt: list[int] = []
        self.bid_px: list[int] = []
        self.bid_qty: list[int] = []
        self.bid_cnt: list[int] = []
        self.bid_nxt: list[int] = []
        self.auction_vol = 0
        self.yeprice = self.ref
        self.vi_ref = self.ref
        self.vi_until_ns = 0
        self.day = -1
        self.group = inst.market
        """Its session group (``MarketModel.group``)."""
        self.jnil_ratio = 1.0
        self.openyak = self.openyak0 = 0
        self.impv = 0.2
        self.years = 0.1
        self.basis_t = 0.0
        self.zone: ZoneInfo | None = None
        if family == "stock":
            self.qty_mean = min(200_000, max(10, 2_000_000_000 // max(self.ref, 1)))
        elif family == "deriv":
            self.qty_mean = 40 if inst.market == "kfutures" else 80
        else:
            self.qty_mean = 8
        self.order_qty = max(1, self.qty_mean // 4)
        """A typical order's size: a level's order count is its quantity over this."""

    @staticmethod
    def _tick_fn(inst: Instrument, unit: int) -> Callable[[int], int]:
        if inst.kind in ("stock", "spac"):
            return _krx_stock_tick
        if inst.market == "koptions":
            small, big, edge = unit // 100, unit * 5 // 100, 10 * unit
            return lambda p: small if p < edge else big
        fixed = int(inst.tick * unit)
        return lambda p: fixed

    def _limits(self) -> tuple[int, int]:
        tick = self.tick
        if self.family != "stock":
            return tick(0), 1 << 62
        hi = self.ref * 13 // 10
        hi -= hi % tick(hi)
        lo = -(-self.ref * 7 // 10)
        if lo % tick(lo):
            lo += tick(lo) - lo % tick(lo)
        return max(lo, 1), hi

    def up(self, p: int) -> int:
        return p + self.tick(p)

    def down(self, p: int) -> int:
        return p - self.tick(p - 1)

    def pstr(self, p: int) -> str:
        return self.pcache[p]


class _Traded:
    """What one trade event did: venue, aggressor side, print price and size, levels removed."""

    __slots__ = ("auction", "before", "buy", "notional", "price", "size", "venue", "walked")

    def __init__(
        self,
        venue: str,
        buy: bool,
        price: int,
        size: int,
        notional: int,
        walked: int,
        before: int,
        auction: bool = False,
    ) -> None:
        self.venue = venue
        self.buy = buy
        self.price = price
        self.size = size
        self.notional = notional
        self.walked = walked
        self.before = before
        self.auction = auction


def _unified_shown(st: _State) -> _Brokers:
    """The 통합 broker view keeps its own 'last shown' snapshot, separate from each venue's."""
    shown = st.brokers.get("unt")
    if shown is None:
        shown = st.brokers["unt"] = _Brokers()
    return shown
