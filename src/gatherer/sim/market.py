"""The simulator's market model: per-instrument books and tapes, and the frames LS would send.

``MarketModel`` keeps, for every instrument that has been asked for at least once (state is
made lazily, so a 25,000-series universe costs nothing until used), a book on the
instrument's tick grid (10 levels for KRX stocks, 5 for derivatives and overseas), a tape
(open/high/low with times, cumulative volume, value, side volumes and counts), broker
rankings for stocks and open interest for derivatives. ``events`` advances one instrument by
one market event (a quote change, or a trade that walks the book) and renders the frames that
event produces for the TRs asked for, every value a string as LS sends them (LS_OPENAPI.md
§2.5, §3): plain integer KRW prices, ``scale``-decimal derivative prices, unsigned changes with
the direction in the sign code (as every LS example shows), ``"0"`` for unused book levels,
``""`` blanks, zero-padded K1_ foreign totals.

Invariants kept (and tested): prices on the grid, bids below asks, a trade prints at the
touch or walks through levels removing what it takes, cumulative volume grows by each print's
``cvolume``, and outside auction prints volume equals mdvolume + msvolume; KRX stock prices
stay within the ±30% daily limit. Auction prints (at the end of a call auction) move neither
side volume, as in LS's t2212 example (§8.3).

It must never read the wall clock or a global random generator: time comes in as ``now_ns``
and randomness from the ``random.Random`` passed in. It does no I/O. The hot path keeps prices
as integers in units of 10**-scale and formats them through per-instrument caches.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping
from decimal import Decimal
from itertools import accumulate, compress
from math import log as _log
from operator import add, itemgetter, ne, sub
from zoneinfo import ZoneInfo

from gatherer.clock import to_seoul
from gatherer.sim.prints import PrintHistory
from gatherer.sim.universe import Instrument
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.hours import (
    DEFAULT_OVERSEAS_GROUP,
    EXCHANGE_HOURS,
    KNOWN_PRODUCTS,
    SessionWindows,
    exchange_group,
    session_windows,
)

Body = dict[str, str]
Frame = tuple[str, Body]

_NS = 1_000_000_000
_SQRT12 = math.sqrt(12.0)
"""A uniform variable on [-0.5, 0.5) times this has unit variance."""
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
_JGUBUN = {"preopen": "10", "closing_auction": "50"}
"""장운영정보 in FC0/OC0: LS's example shows "40" in the regular session; other codes are guesses."""

# TRs per market: book, trade, broker, expected. NXT/통합 variants are shared by both stock markets.
_MARKET_TRS = {
    "kospi": ("H1_", "S3_", "K1_", "YS3"),
    "kosdaq": ("HA_", "K3_", "OK_", "YK3"),
}
_NAMES = {tr: spec.names for tr, spec in CATALOG.items()}

# Member firms (거래원) as LS's K1_/NK1/UK1/OK_ examples show them: 3-digit code, name, foreign?
_MEMBERS_FULL = (
    ("002", "신한투자증권", False),
    ("003", "한국투자증권", False),
    ("005", "미래에셋증권", False),
    ("010", "메리츠증권", False),
    ("012", "NH투자증권", False),
    ("017", "KB증권", False),
    ("030", "삼성증권", False),
    ("050", "키움증권", False),
    ("063", "LS증권", False),
    ("086", "BNK 증권", False),
    ("033", "JP모간", True),
    ("035", "맥쿼리", True),
    ("041", "씨엘에스에이", True),
    ("043", "UBS", True),
    ("044", "메릴린치", True),
)
_MEMBER_WEIGHTS = (9, 7, 8, 3, 7, 6, 6, 14, 3, 1, 3, 2, 2, 3, 2)
_MEMBER_CUM = tuple(accumulate(_MEMBER_WEIGHTS))


def member_name(name: str, limit: int = 6) -> str:
    """A member name cut to ``limit`` bytes at a character boundary, as LS sends it.

    LS's examples are cut in the venue's Korean encoding (CP949, 2 bytes per Hangul syllable):
    "키움증" and "BNK 증" are 6 bytes there (9 and 7 in UTF-8).
    """
    out: list[str] = []
    used = 0
    for ch in name:
        size = len(ch.encode("cp949"))
        if used + size > limit:
            break
        out.append(ch)
        used += size
    return "".join(out)


_MEMBERS = tuple((code, member_name(name), foreign) for code, name, foreign in _MEMBERS_FULL)
_FOREIGN = tuple(i for i, m in enumerate(_MEMBERS) if m[2])
_foreign = itemgetter(*_FOREIGN)
_MEMBER_CODES = tuple(m[0] for m in _MEMBERS)
_MEMBER_NAMES = tuple(m[1] for m in _MEMBERS)

_KRX_MULTIPLIER = 250_000
"""KOSPI200 futures and options: KRW per index point; `value` is reported in 백만원 (§3.6 example)."""


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


def _scaled(p: int, scale: int) -> str:
    if scale == 0:
        return str(p)
    q, r = divmod(abs(p), 10**scale)
    return f"{'-' if p < 0 else ''}{q}.{r:0{scale}d}"


def _decimals(value: Decimal) -> int:
    exp = value.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _sign(change: int, at_upper: bool, at_lower: bool) -> str:
    """LS sign codes: 1 상한, 2 상승, 3 보합, 4 하한, 5 하락."""
    if at_upper:
        return "1"
    if at_lower:
        return "4"
    return "2" if change > 0 else "5" if change < 0 else "3"


class _PriceStrs(dict[int, str]):
    """Price (integer units of 10**-scale) -> its wire string, formatted once per distinct price."""

    __slots__ = ("scale",)

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def __missing__(self, p: int) -> str:
        s = self[p] = _scaled(p, self.scale)
        return s


class _Shown:
    """One book TR's body as last rendered for one instrument, and the level values it shows.

    The body is private to the model and updated in place (only the strings whose values moved
    are re-rendered); every frame gets a copy, so bodies handed out never change afterwards.
    """

    __slots__ = ("body", "keys", "levels")

    def __init__(self, tr: str, fixed: dict[str, str], first: int, depth: int, sections: int) -> None:
        self.body = _template(tr, fixed)
        self.keys = _sections(tr, first, depth, sections)
        """Field names of each level section (prices, quantities, counts per side)."""
        self.levels: list[list[int]] = [[] for _ in range(sections)]


def _template(tr: str, fixed: dict[str, str]) -> Body:
    """A body of ``tr`` with every field "0" (an unused book level), then ``fixed`` set."""
    body = dict.fromkeys(_NAMES[tr], "0")
    assert fixed.keys() <= body.keys(), (tr, fixed.keys() - body.keys())
    body.update(fixed)
    return body


def _sections(tr: str, first: int, depth: int, n: int) -> tuple[tuple[str, ...], ...]:
    """Field names of ``n`` consecutive ``depth``-level sections of ``tr`` starting at field ``first``."""
    names = _NAMES[tr]
    return tuple(names[first + k * depth : first + (k + 1) * depth] for k in range(n))


def _put(
    body: Body, keys: tuple[str, ...], vals: list[int], shown: list[int], fmt: Callable[[int], str]
) -> None:
    """Render into ``body`` the levels of ``vals`` that differ from ``shown`` (what ``body`` holds).

    The caller has checked that they differ. Levels past ``len(vals)`` read "0"; ``shown``
    becomes a copy of ``vals``. Changes cluster at the touch, so the first is searched from there.
    """
    n, m = len(vals), len(shown)
    if n == m:
        j = 0
        while vals[j] == shown[j]:
            j += 1
        if vals[j + 1 :] == shown[j + 1 :]:
            body[keys[j]] = fmt(vals[j])
            shown[j] = vals[j]
            return
        body.update(zip(keys[j:], map(fmt, vals[j:])))  # noqa: B905 (vals may be short)
    else:
        body.update(zip(keys, map(fmt, vals)))  # noqa: B905
        if n < m:
            body.update(dict.fromkeys(keys[n:m], "0"))
    shown[:] = vals


class _Ranks:
    """One broker TR's body as last rendered for one instrument, and what its rows show.

    Private to the model like ``_Shown``'s body. A row is re-rendered when the ranking changed
    or its member traded since; shares move with every print and are always redone.
    """

    __slots__ = ("body", "fmd", "fms", "md_cha", "md_top", "ms_cha", "ms_top")

    def __init__(self, body: Body) -> None:
        self.body = body
        self.md_top: list[int] = []
        self.ms_top: list[int] = []
        self.md_cha = self.ms_cha = False
        """Whether the body's change column on that side shows anything but zeros."""
        self.fmd = self.fms = -1
        """Foreign totals the body's foreign volume/value/average fields show (-1: none yet)."""


def _rank_keys(side: str, prefix: str) -> tuple[tuple[str, ...], ...]:
    """(code, name, volume, share, change, value, average) field names of one side's five rows."""
    fields: tuple[str, ...] = (f"{side}no", f"{side}trad", f"trad{prefix}vol", f"trad{prefix}rate")
    fields += (f"trad{prefix}cha", f"trad{prefix}val", f"trad{prefix}avg")
    return tuple(tuple(f"{f}{k}" for k in range(1, 6)) for f in fields)


_CENTS = tuple(f"{q // 100}.{q % 100:02d}" for q in range(10_001))
"""Shares 0.00 to 100.00 as LS prints them, by hundredths: ``f"{x:.2f}"`` costs twice as much. A
member never has more volume than its venue, so shares stay within the table."""
# Hot ``zip`` calls below pass no ``strict=`` (hence the B905 noqa marks): on Python 3.11 the
# keyword costs ~0.2 µs a call, and their lengths are right by construction (``_put`` relies
# on a short ``vals`` stopping early).

_MD_KEYS = _rank_keys("offer", "md")
_MS_KEYS = _rank_keys("bid", "ms")


def _rank_side(
    body: Body,
    keys: tuple[tuple[str, ...], ...],
    vol: list[int],
    val: list[int],
    last: list[int],
    rows: list[int],
    cha_shown: bool,
    pct: float,
    pct100: float,
) -> bool:
    """Render one side's top-5 rows into ``body``; ``rows`` (the members shown) is updated.

    ``last`` holds the volumes of the previous frame of this TR (so the rows show them when the
    ranking has not changed). Returns whether the change column now shows anything but zeros.
    """
    codes, names, vols, rates, chas, vals, avgs = keys
    if rows and vol == last:  # nobody on this side traded since: same ranking, same rows
        tv: tuple[int, ...] = itemgetter(*rows)(vol)
        tl = tv
        moved = False
        top = rows
    else:
        top = sorted(range(len(vol)), key=vol.__getitem__, reverse=True)[:5]
        get = itemgetter(*top)
        tv = get(vol)
        tl = get(last)
        moved = tv != tl
    if top != rows:
        tval: tuple[int, ...] = itemgetter(*top)(val)
        body.update(zip(codes, get(_MEMBER_CODES)))  # noqa: B905
        body.update(zip(names, get(_MEMBER_NAMES)))  # noqa: B905
        body.update(zip(vols, map(str, tv)))  # noqa: B905
        body.update(zip(vals, [str(x // 1_000_000) for x in tval]))  # noqa: B905
        body.update(zip(avgs, [str(x // v) if v else "0" for x, v in zip(tval, tv)]))  # noqa: B905
        rows[:] = top
        cha_shown = True
    elif moved:
        for r in compress(range(5), map(ne, tv, tl)):
            i, v = top[r], tv[r]
            body[vols[r]] = str(v)
            body[vals[r]] = str(val[i] // 1_000_000)
            body[avgs[r]] = str(val[i] // v) if v else "0"
    shares = []
    for v in tv:
        y = v * pct100
        q = round(y)
        shares.append(_CENTS[q] if -0.4999 < y - q < 0.4999 else f"{v * pct:.2f}")
    body.update(zip(rates, shares))  # noqa: B905
    if moved or cha_shown:
        body.update(zip(chas, map(str, map(sub, tv, tl))))  # noqa: B905
    return moved


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


class _Brokers:
    """Cumulative member volumes and values on one venue, and what the last frame showed."""

    __slots__ = ("md", "mdval", "ms", "msval", "shown_md", "shown_ms")

    def __init__(self) -> None:
        n = len(_MEMBERS)
        self.md = [0] * n
        self.ms = [0] * n
        self.mdval = [0] * n
        self.msval = [0] * n
        self.shown_md = [0] * n
        self.shown_ms = [0] * n

    def add(self, seller: int, buyer: int, qty: int, notional: int) -> None:
        self.md[seller] += qty
        self.mdval[seller] += notional
        self.ms[buyer] += qty
        self.msval[buyer] += notional


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


class MarketModel:
    """Books, tapes and frames for a universe of instruments; see the module docstring."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        rng: random.Random,
        *,
        quirky_overseas_prices: bool = False,
        signed_changes: bool = False,
        sessions: SessionWindows | None = None,
        exchanges: Mapping[str, str] | None = None,
    ) -> None:
        self._instruments = {(i.market, i.symbol): i for i in instruments}
        self._sessions = sessions
        """When each session group trades; computed here (slow, seconds) only when none covers now:
        the server computes them in a thread and renews them ahead (``set_sessions``)."""
        self._exchanges = dict(KNOWN_PRODUCTS if exchanges is None else exchanges)
        """Overseas product (BscGdsCd) -> ExchCd, as the masters give it."""
        self._phase_cache: dict[str, tuple[int, str]] = {}
        self._rng = rng
        self._quirky = quirky_overseas_prices
        self._signed = signed_changes
        self._states: dict[tuple[str, str], _State] = {}
        self._status: dict[str, str] = {}
        self._k200 = self._k200_start()
        self._k200_0 = self._k200
        self._sec = -1
        self._day = -1
        self._phases: dict[str, str] = {}
        self._local_hms: dict[str, tuple[int, str]] = {}
        self._dates: dict[int, str] = {}
        self._hms = "000000"
        self._ymd = ""
        self._offsets: dict[tuple[str, int], int] = {}
        self.prints = PrintHistory(self._change)
        """Every print made, per instrument, for the backfill TRs (``gatherer.sim.prints``)."""

    # -- public API --------------------------------------------------------------------------

    def instrument(self, market: str, symbol: str) -> Instrument | None:
        return self._instruments.get((market, symbol))

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

    def activity(self, group: str, now_ns: int) -> float:
        """Relative event rate: a burst at the open decaying over ~30 min, ~1 midday, rising to the close."""
        family = _FAMILY.get(group, "overseas")
        phase = self.phase(group, now_ns)
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
        return out

    def events(self, market: str, symbol: str, now_ns: int, want: Collection[str]) -> list[Frame]:
        """Advance one instrument by one market event; frames for the TRs in ``want`` it produces."""
        st = self._states.get((market, symbol))
        if st is None:
            inst = self._instruments.get((market, symbol))
            if inst is None:
                return []
            st = self._states[(market, symbol)] = self._new_state(inst, now_ns)
        if now_ns // _NS != self._sec:
            self._tick_time(now_ns)
        phase = self._phases.get(st.group)
        if phase is None:
            phase = self._phases[st.group] = self.phase(st.group, now_ns)
        if self._day != st.day:
            self._new_day(st, self._day)
        rng = self._rng
        if phase in _AUCTIONS and st.family != "overseas":
            self._quote(st)
            st.auction_vol += 1 + int(rng.expovariate(1.0) * st.qty_mean / 20)
            st.yeprice = st.bid_px[0] if st.fair < (st.bid_px[0] + st.ask_px[0]) / 2 else st.ask_px[0]
            return self._render(st, want, now_ns, phase, traded=None)
        if st.auction_vol:
            return self._auction_print(st, want, now_ns, phase)
        if phase != "open":
            return []
        traded = self._trade(st) if rng.random() < 0.4 else None
        if traded is None:
            self._quote(st)
        else:
            self._record(st, traded, now_ns)
        if st.family == "stock":
            return self._render_stock(st, want, now_ns, phase, traded)
        if st.family == "deriv":
            return self._render_deriv(st, want, phase, traded)
        return self._render_overseas(st, want, now_ns, traded)

    # -- state ---------------------------------------------------------------------------------

    def _k200_start(self) -> float:
        futures = sorted(
            (i for i in self._instruments.values() if i.market == "kfutures" and i.kind == "future"),
            key=lambda i: i.expiry,
        )
        if futures:
            return float(futures[0].ref_price)
        strikes = sorted(
            float(i.strike) for i in self._instruments.values() if i.strike and i.market == "koptions"
        )
        return strikes[len(strikes) // 2] if strikes else 350.0

    def _new_state(self, inst: Instrument, now_ns: int) -> _State:
        rng = self._rng
        family = _FAMILY[inst.market]
        st = _State(inst, family)
        st.group = self.group(inst.market, inst.symbol)
        st.jnil_ratio = rng.uniform(0.6, 1.6)
        if family == "deriv":
            st.openyak = st.openyak0 = rng.randrange(1_000, 300_000 if inst.kind == "future" else 30_000)
            if inst.expiry:
                expiry = dt.date(int(inst.expiry[:4]), int(inst.expiry[4:6]), 10)
                today = dt.date(1970, 1, 1) + dt.timedelta(days=(now_ns // _NS + _SEOUL_OFFSET_S) // 86_400)
                st.years = max(1, (expiry - today).days) / 365.0
            st.basis_t = 0.03 * st.years
            if inst.strike:
                moneyness = abs(math.log(float(inst.strike) / self._k200))
                st.impv = 0.14 + 0.6 * moneyness * moneyness + rng.uniform(0.0, 0.04)
        if family == "overseas":
            st.zone = ZoneInfo(EXCHANGE_HOURS[st.group].zone)
        # Opening book: the bid at the reference price, the ask one tick above, contiguous outward.
        bid = max(st.ref, st.lo)
        if bid >= st.hi:
            bid = st.down(st.hi)
        st.bid_px.append(bid)
        st.ask_px.append(st.up(bid))
        for qty, cnt, nxt in ((st.bid_qty, st.bid_cnt, st.bid_nxt), (st.ask_qty, st.ask_cnt, st.ask_nxt)):
            q, c, n = self._level(st)
            qty.append(q)
            cnt.append(c)
            nxt.append(n)
        self._refill(st, ask_side=False)
        self._refill(st, ask_side=True)
        return st

    def _new_day(self, st: _State, day: int) -> None:
        st.day = day
        last = st.krx.price if st.krx.volume else st.ref
        st.krx, st.nxt, st.unt = _Tape(last), _Tape(last), _Tape(last)
        st.brokers = {"krx": _Brokers(), "nxt": _Brokers()}
        st.ranks.clear()
        st.auction_vol = 0
        st.vi_until_ns = 0
        st.openyak0 = st.openyak

    def _level(self, st: _State) -> tuple[int, int, int]:
        """A new level's (quantity, order count, NXT quantity): exponential sizes around the typical one.

        The order count is the quantity over a typical order size, at least one; only stocks have NXT.
        """
        rnd = self._rng.random
        q = 1 + int(-_log(1.0 - rnd()) * st.qty_mean)
        c = max(1, min(q, q // st.order_qty + (rnd() < 0.5)))
        return q, c, int(q * rnd() * 0.25) if st.family == "stock" else 0

    def _tick_time(self, now_ns: int) -> None:
        """Per-second values: Seoul time and date strings, the trading day, each market's phase."""
        sec = now_ns // _NS
        self._sec = sec
        local = sec + _SEOUL_OFFSET_S
        sod = local % 86_400
        self._hms = f"{sod // 3600:02d}{sod % 3600 // 60:02d}{sod % 60:02d}"
        self._ymd = self._date(local // 86_400)
        self._day = (local - _DAY_CUT_S) // 86_400
        self._phases.clear()
        self._local_hms.clear()

    def _date(self, day: int) -> str:
        """YYYYMMDD of a day number (days since 1970-01-01), cached."""
        text = self._dates.get(day)
        if text is None:
            if len(self._dates) > 1024:
                self._dates.clear()
            text = self._dates[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).strftime("%Y%m%d")
        return text

    # -- market events ---------------------------------------------------------------------------

    def _quote(self, st: _State) -> None:
        """One quote change: improve the touch inside the spread, add to a level, or cancel from one."""
        rnd = self._rng.random
        # The fair value mean-reverts to the reference with a uniform step of the variance of an
        # N(0, (0.15% of ref)^2) one (the shape does not matter here, and this is cheaper).
        st.fair += (st.fref - st.fair) * 0.002 + st.fstep * (rnd() - 0.5)
        r = rnd()
        bid, ask = st.bid_px[0], st.ask_px[0]
        if r < 0.3:
            tick = st.tick
            p = bid + tick(bid)
            if p < ask:
                if st.fair > (bid + ask) / 2:
                    px, qty, cnt, nxt = st.bid_px, st.bid_qty, st.bid_cnt, st.bid_nxt
                else:
                    p = ask - tick(ask - 1)
                    px, qty, cnt, nxt = st.ask_px, st.ask_qty, st.ask_cnt, st.ask_nxt
                q, c, n = self._level(st)
                px.insert(0, p)
                qty.insert(0, q)
                cnt.insert(0, c)
                nxt.insert(0, n)
                if len(px) > st.depth:
                    px.pop(), qty.pop(), cnt.pop(), nxt.pop()
                return
        ask_side = rnd() < 0.5
        if ask_side:
            px, qty, cnt, nxt = st.ask_px, st.ask_qty, st.ask_cnt, st.ask_nxt
        else:
            px, qty, cnt, nxt = st.bid_px, st.bid_qty, st.bid_cnt, st.bid_nxt
        i = int(-_log(1.0 - rnd()) / 0.5)
        if i >= len(px):
            i = len(px) - 1
        if r < 0.65:
            q = 1 + int(-_log(1.0 - rnd()) * st.qty_mean)
            if st.family == "stock" and rnd() < 0.2:
                nxt[i] += q
            else:
                qty[i] += q
                cnt[i] += 1
            return
        take = 1 + int(rnd() * qty[i])
        if take < qty[i] or len(px) == 1:
            qty[i] = max(1, qty[i] - take)
            cnt[i] = max(1, min(cnt[i] - 1, qty[i]))
            nxt[i] = nxt[i] // 2
            return
        del px[i], qty[i], cnt[i], nxt[i]
        self._refill(st, ask_side)

    def _refill(self, st: _State, ask_side: bool) -> None:
        """Extend one side outward to full depth, within the price limits."""
        if ask_side:
            px, qty, cnt, nxt = st.ask_px, st.ask_qty, st.ask_cnt, st.ask_nxt
        else:
            px, qty, cnt, nxt = st.bid_px, st.bid_qty, st.bid_cnt, st.bid_nxt
        tick, depth, lo, hi = st.tick, st.depth, st.lo, st.hi
        while len(px) < depth:
            last = px[-1]
            p = last + tick(last) if ask_side else last - tick(last - 1)
            if p > hi or p < lo:
                return
            q, c, n = self._level(st)
            px.append(p)
            qty.append(q)
            cnt.append(c)
            nxt.append(n)

    def _trade(self, st: _State) -> _Traded | None:
        """An aggressive order that takes from the opposite side, walking levels if it is large."""
        rng = self._rng
        st.fair += (st.fref - st.fair) * 0.002 + st.fstep * (rng.random() - 0.5)  # as in _quote
        last = st.krx.price if st.krx.volume else st.ref
        x = (st.fair - last) / (st.ref * 0.01 + 1)
        x = 1.0 if x > 1.0 else -1.0 if x < -1.0 else x
        buy = rng.random() < 0.5 + 0.3 * x
        if buy:
            px, qty, cnt, nxt = st.ask_px, st.ask_qty, st.ask_cnt, st.ask_nxt
        else:
            px, qty, cnt, nxt = st.bid_px, st.bid_qty, st.bid_cnt, st.bid_nxt
        on_nxt = st.family == "stock" and rng.random() < 0.15 and nxt[0] > 0
        book = nxt if on_nxt else qty
        avail = sum(book) - 1
        if rng.random() < 0.05:
            size = sum(book[:3])
        else:
            size = 1 + int(-_log(1.0 - rng.random()) / 3.0 * book[0])
        if size > avail:
            size = avail
        if size <= 0:
            return None
        before = last
        remaining, notional, i, walked, price = size, 0, 0, 0, px[0]
        while remaining:
            take = book[i] if book[i] < remaining else remaining
            if take:
                book[i] -= take
                remaining -= take
                notional += take * px[i]
                price = px[i]
            if book[i] == 0 and not on_nxt:
                del px[i], qty[i], cnt[i], nxt[i]
                walked += 1
            else:
                if not on_nxt:
                    cnt[i] = max(1, min(cnt[i], qty[i]))
                i += 1
        if len(px) < st.depth:
            self._refill(st, buy)
        venue = "nxt" if on_nxt else "krx"
        return _Traded(venue, buy, price, size, notional, walked, before)

    # -- rendering ---------------------------------------------------------------------------

    def _record(self, st: _State, traded: _Traded, now_ns: int) -> None:
        hms = self._hms
        buy = None if traded.auction else traded.buy
        tape = st.nxt if traded.venue == "nxt" else st.krx
        tape.record(traded.price, traded.size, traded.notional, buy, hms)
        if st.family == "stock":
            st.unt.record(traded.price, traded.size, traded.notional, buy, hms)
            seller = bisect_right(_MEMBER_CUM, self._rng.random() * _MEMBER_CUM[-1])
            buyer = bisect_right(_MEMBER_CUM, self._rng.random() * _MEMBER_CUM[-1])
            st.brokers[traded.venue].add(seller, buyer, traded.size, traded.notional)
        elif st.family == "deriv":
            delta = (int(self._rng.random() * 3) - 1) * (traded.size // 2)
            st.openyak = max(0, st.openyak + delta)
        self.prints.add(st, traded, buy, hms, now_ns, self._k200)

    def _auction_print(self, st: _State, want: Collection[str], now_ns: int, phase: str) -> list[Frame]:
        size = st.auction_vol
        st.auction_vol = 0
        traded = _Traded("krx", True, st.yeprice, size, size * st.yeprice, 0, st.krx.price, auction=True)
        return self._render(st, want, now_ns, phase, traded)

    def _render(
        self, st: _State, want: Collection[str], now_ns: int, phase: str, traded: _Traded | None
    ) -> list[Frame]:
        if traded is not None:
            self._record(st, traded, now_ns)
        if st.family == "stock":
            return self._render_stock(st, want, now_ns, phase, traded)
        if st.family == "deriv":
            return self._render_deriv(st, want, phase, traded)
        return self._render_overseas(st, want, now_ns, traded)

    # stocks

    def _render_stock(
        self, st: _State, want: Collection[str], now_ns: int, phase: str, traded: _Traded | None
    ) -> list[Frame]:
        book_tr, trade_tr, broker_tr, expected_tr = _MARKET_TRS[st.inst.market]
        out: list[Frame] = []
        auction = phase in _AUCTIONS
        if book_tr in want:
            out.append((book_tr, self._stock_book(st, book_tr, st.ask_qty, st.bid_qty, auction, "")))
        if "NH1" in want:
            out.append(("NH1", self._stock_book(st, "NH1", st.ask_nxt, st.bid_nxt, auction, "N")))
        if "UH1" in want:
            out.append(("UH1", self._unified_book(st, auction)))
        if auction and expected_tr in want:
            out.append((expected_tr, self._expected(st)))
        if traded is None:
            return out
        code = st.inst.symbol
        if traded.venue == "krx" and trade_tr in want:
            out.append((trade_tr, self._stock_trade(st, trade_tr, st.krx, "KRX", None)))
        if traded.venue == "nxt" and "NS3" in want:
            out.append(("NS3", self._stock_trade(st, "NS3", st.nxt, "NXT", "N" + code)))
        if "US3" in want:
            exch = "NXT" if traded.venue == "nxt" else "KRX"
            out.append(("US3", self._stock_trade(st, "US3", st.unt, exch, "U" + code)))
        if not traded.auction:
            if traded.venue == "krx" and broker_tr in want:
                out.append((broker_tr, self._broker(st, broker_tr, [st.brokers["krx"]], st.krx, None)))
            if traded.venue == "nxt" and "NK1" in want:
                out.append(("NK1", self._broker(st, "NK1", [st.brokers["nxt"]], st.nxt, ("NXT", "N"))))
            if "UK1" in want:
                exch = "NXT" if traded.venue == "nxt" else "KRX"
                brokers = [st.brokers["krx"], st.brokers["nxt"]]
                out.append(("UK1", self._broker(st, "UK1", brokers, st.unt, (exch, "U"))))
        if "VI_" in want and traded.venue == "krx":
            vi = self._vi(st, traded, now_ns)
            if vi is not None:
                out.append(("VI_", vi))
        return out

    def _stock_book(
        self, st: _State, tr: str, ask_q: list[int], bid_q: list[int], auction: bool, prefix: str
    ) -> Body:
        shown = st.shown.get(tr)
        if shown is None:
            fixed = {"shcode": st.inst.symbol, "alloc_gubun": "", "midsumremgubun": ""}
            if prefix:
                fixed["ex_shcode"] = prefix + st.inst.symbol
            shown = st.shown[tr] = _Shown(tr, fixed, 1, st.depth, 4)
        body = shown.body
        ap, bp, aq, bq = shown.keys
        sap, sbp, saq, sbq = shown.levels
        ask_px, bid_px = st.ask_px, st.bid_px
        if ask_px != sap:
            _put(body, ap, ask_px, sap, st.pcache.__getitem__)
        if bid_px != sbp:
            _put(body, bp, bid_px, sbp, st.pcache.__getitem__)
        if ask_q != saq:
            _put(body, aq, ask_q, saq, str)
            body["totofferrem"] = str(sum(ask_q))
        if bid_q != sbq:
            _put(body, bq, bid_q, sbq, str)
            body["totbidrem"] = str(sum(bid_q))
        body["hotime"] = self._hms
        body["donsigubun"] = "3" if auction else "1"
        body["volume"] = str(st.nxt.volume if prefix else st.krx.volume)
        body["midprice"] = str((ask_px[0] + bid_px[0]) // 2)
        return body.copy()

    def _unified_book(self, st: _State, auction: bool) -> Body:
        shown = st.shown.get("UH1")
        if shown is None:
            fixed = {
                "shcode": st.inst.symbol,
                "alloc_gubun": "",
                "krx_midsumremgubun": "",
                "nxt_midsumremgubun": "",
                "ex_shcode": "U" + st.inst.symbol,
            }
            shown = st.shown["UH1"] = _Shown("UH1", fixed, 1, st.depth, 8)
        body = shown.body
        ap, bp, ak, an, au, bk, bn, bu = shown.keys
        sap, sbp, sak, san, sau, sbk, sbn, sbu = shown.levels
        pstr = st.pcache.__getitem__
        ask_u = list(map(add, st.ask_qty, st.ask_nxt))
        bid_u = list(map(add, st.bid_qty, st.bid_nxt))
        if st.ask_px != sap:
            _put(body, ap, st.ask_px, sap, pstr)
        if st.bid_px != sbp:
            _put(body, bp, st.bid_px, sbp, pstr)
        if st.ask_qty != sak:
            _put(body, ak, st.ask_qty, sak, str)
        if st.ask_nxt != san:
            _put(body, an, st.ask_nxt, san, str)
        if ask_u != sau:
            _put(body, au, ask_u, sau, str)
        if st.bid_qty != sbk:
            _put(body, bk, st.bid_qty, sbk, str)
        if st.bid_nxt != sbn:
            _put(body, bn, st.bid_nxt, sbn, str)
        if bid_u != sbu:
            _put(body, bu, bid_u, sbu, str)
        ak_t, an_t, bk_t, bn_t = sum(st.ask_qty), sum(st.ask_nxt), sum(st.bid_qty), sum(st.bid_nxt)
        mid = str((st.ask_px[0] + st.bid_px[0]) // 2)
        nxt_on = an_t + bn_t > 0
        body["hotime"] = self._hms
        body["krx_totofferrem"] = str(ak_t)
        body["nxt_totofferrem"] = str(an_t)
        body["unt_totofferrem"] = str(ak_t + an_t)
        body["krx_totbidrem"] = str(bk_t)
        body["nxt_totbidrem"] = str(bn_t)
        body["unt_totbidrem"] = str(bk_t + bn_t)
        body["krx_donsigubun"] = "3" if auction else "1"
        body["nxt_donsigubun"] = "1" if nxt_on else "0"
        body["volume"] = str(st.unt.volume)
        body["krx_midprice"] = mid
        body["nxt_midprice"] = mid if nxt_on else "0"
        return body.copy()

    def _change(self, st: _State, price: int) -> tuple[str, str, str]:
        """(sign code, change, rate) against the reference price; change unsigned unless configured."""
        got = st.changes.get(price)
        if got is None:
            diff = price - st.ref
            stock = st.family == "stock"
            sign = _sign(diff, stock and price >= st.hi, stock and price <= st.lo)
            change = _scaled(diff if self._signed else abs(diff), st.scale)
            rate = f"{diff * 100 / st.ref:.2f}" if st.ref else "0.00"
            if len(st.changes) > 4096:
                st.changes.clear()
            got = st.changes[price] = (sign, change, rate)
        return got

    def _stock_trade(self, st: _State, tr: str, tape: _Tape, exch: str, ex_shcode: str | None) -> Body:
        sign, change, rate = self._change(st, tape.price)
        volume = tape.volume
        body = {
            "chetime": tape.chetime,
            "sign": sign,
            "change": change,
            "drate": rate,
            "price": str(tape.price),
            "opentime": tape.opentime,
            "open": str(tape.open),
            "hightime": tape.hightime,
            "high": str(tape.high),
            "lowtime": tape.lowtime,
            "low": str(tape.low),
            "cgubun": tape.cgubun,
            "cvolume": str(tape.cvol),
            "volume": str(volume),
            "value": str(tape.value // 1_000_000),
            "mdvolume": str(tape.mdvol),
            "mdchecnt": str(tape.mdcnt),
            "msvolume": str(tape.msvol),
            "mschecnt": str(tape.mscnt),
            "cpower": f"{tape.msvol * 100 / tape.mdvol:.2f}" if tape.mdvol else "0.00",
            "w_avrg": str(tape.value // volume if volume else 0),
            "offerho": str(st.ask_px[0]),
            "bidho": str(st.bid_px[0]),
            "status": "00",
            "jnilvolume": str(int(volume * st.jnil_ratio)),
            "shcode": st.inst.symbol,
            "exchname": exch,
        }
        if ex_shcode is not None:
            body["ex_shcode"] = ex_shcode
        return body

    def _broker(
        self, st: _State, tr: str, tables: list[_Brokers], tape: _Tape, extra: tuple[str, str] | None
    ) -> Body:
        if len(tables) == 1:
            md, ms, mdval, msval = tables[0].md, tables[0].ms, tables[0].mdval, tables[0].msval
        else:
            a, b = tables
            md = [x + y for x, y in zip(a.md, b.md, strict=True)]
            ms = [x + y for x, y in zip(a.ms, b.ms, strict=True)]
            mdval = [x + y for x, y in zip(a.mdval, b.mdval, strict=True)]
            msval = [x + y for x, y in zip(a.msval, b.msval, strict=True)]
        shown = tables[0] if len(tables) == 1 else _unified_shown(st)
        ranks = st.ranks.get(tr)
        if ranks is None:
            fixed = {"shcode": st.inst.symbol}
            if extra is not None:
                fixed["ex_shcode"] = extra[1] + st.inst.symbol
            ranks = st.ranks[tr] = _Ranks(_template(tr, fixed))
        body = ranks.body
        total = tape.volume or 1
        pct, pct100 = 100 / total, 10_000 / total
        ranks.md_cha = _rank_side(
            body, _MD_KEYS, md, mdval, shown.shown_md, ranks.md_top, ranks.md_cha, pct, pct100
        )
        ranks.ms_cha = _rank_side(
            body, _MS_KEYS, ms, msval, shown.shown_ms, ranks.ms_top, ranks.ms_cha, pct, pct100
        )
        fmd = sum(_foreign(md))
        fms = sum(_foreign(ms))
        body["ftradmdcha"] = f"{fmd - sum(_foreign(shown.shown_md)):010d}"
        body["ftradmscha"] = f"{fms - sum(_foreign(shown.shown_ms)):010d}"
        body["ftradmdrate"] = f"{fmd * 100 / total:.2f}" if fmd else "0.0"
        body["ftradmsrate"] = f"{fms * 100 / total:.2f}" if fms else "0.0"
        if fmd != ranks.fmd:
            ranks.fmd = fmd
            fmdval = sum(_foreign(mdval))
            body["ftradmdvol"] = f"{fmd:010d}"
            body["ftradmdval"] = str(fmdval // 1_000_000)
            body["ftradmdavg"] = str(fmdval // fmd) if fmd else " "
        if fms != ranks.fms:
            ranks.fms = fms
            fmsval = sum(_foreign(msval))
            body["ftradmsvol"] = f"{fms:010d}"
            body["ftradmsval"] = str(fmsval // 1_000_000)
            body["ftradmsavg"] = str(fmsval // fms) if fms else " "
        if extra is not None:
            body["time"] = self._hms
            body["exchname"] = extra[0]
        shown.shown_md[:] = md
        shown.shown_ms[:] = ms
        return body.copy()

    def _expected(self, st: _State) -> Body:
        sign, change, rate = self._change(st, st.yeprice)
        values = [
            self._hms,
            str(st.yeprice),
            str(st.auction_vol),
            sign,
            change,
            rate,
            str(st.ask_px[0]),
            str(st.bid_px[0]),
            str(st.ask_qty[0]),
            str(st.bid_qty[0]),
            st.inst.symbol,
            "KRX",
        ]
        return dict(zip(_NAMES["YS3"], values, strict=True))

    def _vi(self, st: _State, traded: _Traded, now_ns: int) -> Body | None:
        """VI_: static at ±10% from its base, dynamic when one order walks 3+ levels; released 2 min later."""
        code = st.inst.symbol
        if st.vi_until_ns and now_ns >= st.vi_until_ns:
            st.vi_until_ns = 0
            return dict(zip(_NAMES["VI_"], ["0", "0", "0", "0", code, code, self._hms, "KRX"], strict=True))
        if st.vi_until_ns or traded.auction:
            return None
        static = abs(traded.price - st.vi_ref) * 10 >= st.vi_ref
        dynamic = traded.walked >= 3
        if not (static or dynamic):
            return None
        gubun = "3" if static and dynamic else "1" if static else "2"
        svi = str(st.vi_ref) if static else "0"
        dvi = str(traded.before) if dynamic else "0"
        if static:
            st.vi_ref = traded.price
        st.vi_until_ns = now_ns + 120 * _NS
        values = [gubun, svi, dvi, str(traded.price), code, code, self._hms, "KRX"]
        return dict(zip(_NAMES["VI_"], values, strict=True))

    # KRX derivatives

    def _render_deriv(
        self, st: _State, want: Collection[str], phase: str, traded: _Traded | None
    ) -> list[Frame]:
        futures = st.inst.market == "kfutures"
        book_trs = ("FH9", "FH0") if futures else ("OH0",)
        trade_trs = ("FC9", "FC0") if futures else ("OC0",)
        out: list[Frame] = []
        book: Body | None = None
        for tr in book_trs:
            if tr in want:
                book = book or self._deriv_book(st, tr, phase)
                out.append((tr, book if tr == book_trs[0] else dict(book)))
        if traded is None:
            return out
        if futures and st.inst.kind == "future":
            self._k200 = traded.price / st.unit / (1.0 + st.basis_t) + _noise(self._rng, 0.05)
        elif not futures:
            self._k200 += (self._k200_0 - self._k200) * 0.001 + _noise(self._rng, 0.02)
        trade: Body | None = None
        for tr in trade_trs:
            if tr in want:
                trade = trade or (self._fut_trade(st, phase) if futures else self._opt_trade(st, phase))
                out.append((tr, trade if tr == trade_trs[0] else dict(trade)))
        return out

    def _deriv_book(self, st: _State, tr: str, phase: str) -> Body:
        shown = st.shown.get(tr)
        if shown is None:
            code = "futcode" if st.inst.market == "kfutures" else "optcode"
            shown = st.shown[tr] = _Shown(tr, {code: st.inst.symbol, "alloc_gubun": ""}, 1, st.depth, 6)
        body = self._levels(st, shown, st.pcache.__getitem__)
        body["hotime"] = self._hms
        body["danhochk"] = "1" if phase in _AUCTIONS else "0"
        return body.copy()

    @staticmethod
    def _levels(st: _State, shown: _Shown, pstr: Callable[[int], str]) -> Body:
        """A derivative book's prices, quantities and counts per side (FH9/FH0/OH0/OVH/WOH)."""
        body = shown.body
        ap, bp, aq, bq, ac, bc = shown.keys
        sap, sbp, saq, sbq, sac, sbc = shown.levels
        if st.ask_px != sap:
            _put(body, ap, st.ask_px, sap, pstr)
        if st.bid_px != sbp:
            _put(body, bp, st.bid_px, sbp, pstr)
        if st.ask_qty != saq:
            _put(body, aq, st.ask_qty, saq, str)
            body["totofferrem"] = str(sum(st.ask_qty))
        if st.bid_qty != sbq:
            _put(body, bq, st.bid_qty, sbq, str)
            body["totbidrem"] = str(sum(st.bid_qty))
        if st.ask_cnt != sac:
            _put(body, ac, st.ask_cnt, sac, str)
            body["totoffercnt"] = str(sum(st.ask_cnt))
        if st.bid_cnt != sbc:
            _put(body, bc, st.bid_cnt, sbc, str)
            body["totbidcnt"] = str(sum(st.bid_cnt))
        return body

    def _deriv_common(self, st: _State) -> Body:
        tape = st.krx
        sign, change, rate = self._change(st, tape.price)
        pstr = st.pcache
        value = tape.value * _KRX_MULTIPLIER // (st.unit * 1_000_000)
        return {
            "chetime": tape.chetime,
            "sign": sign,
            "change": change,
            "drate": rate,
            "price": pstr[tape.price],
            "open": pstr[tape.open],
            "high": pstr[tape.high],
            "low": pstr[tape.low],
            "cgubun": tape.cgubun,
            "cvolume": str(tape.cvol),
            "volume": str(tape.volume),
            "value": str(value),
            "mdvolume": str(tape.mdvol),
            "mdchecnt": str(tape.mdcnt),
            "msvolume": str(tape.msvol),
            "mschecnt": str(tape.mscnt),
            "cpower": f"{tape.msvol * 100 / tape.mdvol:.2f}" if tape.mdvol else "0.00",
            "offerho1": pstr[st.ask_px[0]],
            "bidho1": pstr[st.bid_px[0]],
            "openyak": str(st.openyak),
        }

    def _fut_trade(self, st: _State, phase: str) -> Body:
        k200 = self._k200
        price = st.krx.price / st.unit
        theory = k200 * (1.0 + st.basis_t)
        body = self._deriv_common(st)
        body["k200jisu"] = f"{k200:.2f}"
        body["theoryprice"] = f"{theory:.2f}"
        body["kasis"] = f"{(price - theory) * 100 / theory:.2f}"
        body["sbasis"] = f"{price - k200:.2f}"
        body["ibasis"] = f"{theory - k200:.2f}"
        body["openyakcha"] = str(st.openyak - st.openyak0)
        body["jgubun"] = _JGUBUN.get(phase, "40")
        body["jnilvolume"] = str(int(st.krx.volume * st.jnil_ratio))
        body["futcode"] = st.inst.symbol
        return body

    def _opt_trade(self, st: _State, phase: str) -> Body:
        k200 = self._k200
        strike = st.strike or k200
        call = st.inst.kind != "put"
        price = st.krx.price / st.unit
        theory = _black_scholes(k200, strike, st.years, st.impv, call)
        intrinsic = max(0.0, k200 - strike) if call else max(0.0, strike - k200)
        body = self._deriv_common(st)
        body["k200jisu"] = f"{k200:.2f}"
        body["eqva"] = f"{k200 * 7.65:.2f}"
        body["theoryprice"] = f"{theory:.2f}"
        body["impv"] = f"{st.impv * 100:.2f}"
        body["openyakcha"] = str(st.openyak - st.openyak0)
        body["timevalue"] = f"{max(0.0, price - intrinsic):.2f}"
        body["jgubun"] = _JGUBUN.get(phase, "40")
        body["jnilvolume"] = str(int(st.krx.volume * st.jnil_ratio))
        body["optcode"] = st.inst.symbol
        return body

    # overseas

    def _local(self, zone: ZoneInfo, sec: int) -> int:
        """Exchange-local seconds since the epoch (offset cached per 15 minutes)."""
        key = (zone.key, sec // 900)
        offset = self._offsets.get(key)
        if offset is None:
            delta = dt.datetime.fromtimestamp(sec, tz=zone).utcoffset()
            offset = int(delta.total_seconds()) if delta is not None else 0
            if len(self._offsets) > 4096:
                self._offsets.clear()
            self._offsets[key] = offset
        return sec + offset

    @staticmethod
    def _quirk(text: str) -> str:
        """LS's documented OVH/OVC rendering, e.g. "0. 14997.75" (§2.5): for fault tests only."""
        return text if text == "0" else "0." + text.rjust(9)

    def _ovs_book(self, st: _State, tr: str, symbol: str, local_hms: str) -> Body:
        shown = st.shown.get(tr)
        if shown is None:
            shown = st.shown[tr] = _Shown(tr, {"symbol": symbol}, 2, st.depth, 6)
        if self._quirky:
            pcache = st.pcache
            body = self._levels(st, shown, lambda p: self._quirk(pcache[p]))
        else:
            body = self._levels(st, shown, st.pcache.__getitem__)
        body["hotime"] = local_hms
        return body.copy()

    def _render_overseas(
        self, st: _State, want: Collection[str], now_ns: int, traded: _Traded | None
    ) -> list[Frame]:
        options = st.inst.market == "ooptions"
        book_tr, trade_tr = ("WOH", "WOC") if options else ("OVH", "OVC")
        symbol = st.inst.symbol.ljust(16) if options else st.inst.symbol
        zone = st.zone
        assert zone is not None
        here = self._local_hms.get(zone.key)
        if here is None:
            local = self._local(zone, now_ns // _NS)
            lsod = local % 86_400
            here = self._local_hms[zone.key] = (
                local,
                f"{lsod // 3600:02d}{lsod % 3600 // 60:02d}{lsod % 60:02d}",
            )
        local, local_hms = here
        out: list[Frame] = []
        if book_tr in want:
            out.append((book_tr, self._ovs_book(st, book_tr, symbol, local_hms)))
        if traded is None or trade_tr not in want:
            return out
        tape = st.krx
        sign, change, rate = self._change(st, tape.price)
        local_day = local // 86_400
        late = zone.key == "America/Chicago" and local % 86_400 >= 61_200
        quirky = self._quirky
        pstr = st.pcache
        body = {
            "symbol": symbol,
            "ovsdate": self._date(local_day),
            "kordate": self._ymd,
            "trdtm": local_hms,
            "kortm": self._hms,
            "curpr": self._quirk(pstr[tape.price]) if quirky else pstr[tape.price],
            "ydiffpr": self._quirk(change) if quirky else change,
            "ydiffSign": sign,
            "open": self._quirk(pstr[tape.open]) if quirky else pstr[tape.open],
            "high": self._quirk(pstr[tape.high]) if quirky else pstr[tape.high],
            "low": self._quirk(pstr[tape.low]) if quirky else pstr[tape.low],
            "chgrate": rate,
            "trdq": str(tape.cvol),
            "totq": str(tape.volume),
            "cgubun": tape.cgubun,
            "mdvolume": "",
            "msvolume": "",
            "ovsmkend": self._date(local_day + 1) if late else self._date(local_day),
        }
        out.append((trade_tr, body))
        return out


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


def _noise(rng: random.Random, sd: float) -> float:
    """Zero-mean noise with standard deviation ``sd`` (uniform: cheaper than ``gauss``, shape unimportant)."""
    return (rng.random() - 0.5) * _SQRT12 * sd


def _black_scholes(spot: float, strike: float, years: float, vol: float, call: bool) -> float:
    if years <= 0 or vol <= 0 or spot <= 0 or strike <= 0:
        return max(0.0, spot - strike) if call else max(0.0, strike - spot)
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    n1 = 0.5 * (1.0 + math.erf(d1 / math.sqrt(2.0)))
    n2 = 0.5 * (1.0 + math.erf(d2 / math.sqrt(2.0)))
    if call:
        return spot * n1 - strike * n2
    return strike * (1.0 - n2) - spot * (1.0 - n1)
