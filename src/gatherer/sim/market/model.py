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

The model ties the pieces together: ``rhythm`` says when each market trades, ``state`` holds an
instrument's book and tapes, ``books`` moves the book, ``stocks``, ``derivs`` and ``overseas``
render each family's frames, ``brokers`` ranks member firms, and ``prints`` keeps every print for
the backfill TRs.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping
from zoneinfo import ZoneInfo

from gatherer.sim.market.books import open_book, quote, trade
from gatherer.sim.market.brokers import _MEMBER_CUM, _Brokers
from gatherer.sim.market.derivs import DerivFrames
from gatherer.sim.market.overseas import OverseasFrames
from gatherer.sim.market.prints import PrintHistory
from gatherer.sim.market.rhythm import _AUCTIONS, _FAMILY, _NS, _SEOUL_OFFSET_S, Now, Rhythm
from gatherer.sim.market.state import _State, _Tape, _Traded
from gatherer.sim.market.stocks import StockFrames
from gatherer.sim.market.wire import Frame, _scaled, _sign
from gatherer.sim.universe.instruments import Instrument
from gatherer.venues.ls.hours import EXCHANGE_HOURS, SessionWindows

_NIGHT_TRS = ("DH0", "DC0")
"""The KRX night session's TRs (LS_OPENAPI.md §3.6), streamed while the ``knight`` group trades."""

_NXT_TRS = frozenset({"NH1", "NS3", "NK1", "NVI", "UH1", "US3", "UK1", "UVI"})
"""What streams while only NXT trades."""


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
        self._rhythm = Rhythm(self._instruments, sessions, exchanges)
        """When each session group trades (phases, activity, JIF)."""
        self._rng = rng
        self._signed = signed_changes
        self._states: dict[tuple[str, str], _State] = {}
        self._now = Now()
        self._phases: dict[str, str] = {}
        """Each session group's phase in the current second."""
        self._stocks = StockFrames(self._now, self._change)
        self._derivs = DerivFrames(self._now, self._change, rng, self._k200_start())
        self._overseas = OverseasFrames(self._now, self._change, quirky_overseas_prices)
        self.prints = PrintHistory(self._change)
        """Every print made, per instrument, for the backfill TRs (``gatherer.sim.market.prints``)."""

    # -- public API --------------------------------------------------------------------------

    def instrument(self, market: str, symbol: str) -> Instrument | None:
        return self._instruments.get((market, symbol))

    def group(self, market: str, symbol: str, want: Collection[str] = (), now_ns: int = 0) -> str:
        """The session group an instrument trades in: its market for KRX, its exchange overseas; a
        KRX derivative asked for on DH0/DC0 trades in ``knight`` while the night session is on
        (or always, when asked for on nothing else)."""
        if not want or market not in ("kfutures", "koptions") or not any(tr in _NIGHT_TRS for tr in want):
            return self._rhythm.group(market, symbol)
        if all(tr in _NIGHT_TRS for tr in want) or self._rhythm.phase("knight", now_ns) != "closed":
            return "knight"
        return market

    @property
    def sessions(self) -> SessionWindows | None:
        return self._rhythm.sessions

    def set_sessions(self, sessions: SessionWindows) -> None:
        self._rhythm.set_sessions(sessions)

    def phase(self, group: str, now_ns: int) -> str:
        """``closed``, ``preopen``, ``open``, ``closing_auction`` or ``after`` of a session group
        (``kospi`` … ``koptions``, or an exchange such as ``CME``) at a time; cached per second."""
        return self._rhythm.phase(group, now_ns)

    def activity(self, group: str, now_ns: int) -> float:
        """Relative event rate: a burst at the open decaying over ~30 min, ~1 midday, rising to the close."""
        return self._rhythm.activity(group, now_ns)

    def status_events(self, now_ns: int) -> list[Frame]:
        """JIF frames for every phase a market entered since the previous call.

        The first call only notes the current phases (LS sends JIF on transitions only).
        """
        return self._rhythm.status_events(now_ns)

    def events(self, market: str, symbol: str, now_ns: int, want: Collection[str]) -> list[Frame]:
        """Advance one instrument by one market event; frames for the TRs in ``want`` it produces."""
        st = self._states.get((market, symbol))
        if st is None:
            inst = self._instruments.get((market, symbol))
            if inst is None:
                return []
            st = self._states[(market, symbol)] = self._new_state(inst, now_ns)
        if now_ns // _NS != self._now.sec:
            self._tick_time(now_ns)
        group = st.group if st.family != "deriv" else self.group(market, symbol, want, now_ns)
        phase = self._phases.get(group)
        if phase is None:
            phase = self._phases[group] = self._rhythm.phase(group, now_ns)
        if st.family == "deriv":  # day TRs are silent at night, night TRs by day
            want = [tr for tr in want if (tr in _NIGHT_TRS) == (group == "knight")]
        day = self._now.day
        if day != st.day:
            self._new_day(st, day)
        rng = self._rng
        if phase in _AUCTIONS and st.family != "overseas":
            if st.family == "stock" and rng.random() < 0.3 and self._rhythm.nxt_phase(now_ns) == "nxt_pre":
                return self._nxt_only(st, want, now_ns, phase)  # NXT's pre-market runs to 08:50
            quote(st, rng)
            st.auction_vol += 1 + int(rng.expovariate(1.0) * st.qty_mean / 20)
            st.yeprice = st.bid_px[0] if st.fair < (st.bid_px[0] + st.ask_px[0]) / 2 else st.ask_px[0]
            return self._render(st, want, now_ns, phase, traded=None)
        if st.auction_vol:
            return self._auction_print(st, want, now_ns, phase)
        if phase != "open":
            return self._nxt_only(st, want, now_ns, phase)
        traded = trade(st, rng) if rng.random() < 0.4 else None
        if traded is None:
            quote(st, rng)
        return self._render(st, want, now_ns, phase, traded)

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
        st.group = self._rhythm.group(inst.market, inst.symbol)
        st.jnil_ratio = rng.uniform(0.6, 1.6)
        if family == "deriv":
            st.openyak = st.openyak0 = rng.randrange(1_000, 300_000 if inst.kind == "future" else 30_000)
            if inst.expiry:
                expiry = dt.date(int(inst.expiry[:4]), int(inst.expiry[4:6]), 10)
                today = dt.date(1970, 1, 1) + dt.timedelta(days=(now_ns // _NS + _SEOUL_OFFSET_S) // 86_400)
                st.years = max(1, (expiry - today).days) / 365.0
            st.basis_t = 0.03 * st.years
            if inst.strike:
                moneyness = abs(math.log(float(inst.strike) / self._derivs.k200))
                st.impv = 0.14 + 0.6 * moneyness * moneyness + rng.uniform(0.0, 0.04)
        if family == "overseas":
            st.zone = ZoneInfo(EXCHANGE_HOURS[st.group].zone)
        open_book(st, rng)
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

    def _tick_time(self, now_ns: int) -> None:
        """Per-second values: Seoul time and date strings, the trading day, each market's phase."""
        self._now.tick(now_ns)
        self._phases.clear()
        self._overseas.new_second()

    def _record(self, st: _State, traded: _Traded, now_ns: int) -> None:
        hms = self._now.hms
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
        self.prints.add(st, traded, buy, hms, now_ns, self._derivs.k200)

    def _nxt_only(self, st: _State, want: Collection[str], now_ns: int, phase: str) -> list[Frame]:
        """NXT's pre- and after-market (08:00–08:50, 15:30–20:00): prints on NXT alone, frames of the
        NXT and consolidated TRs only (KRX's own feeds are quiet then)."""
        if st.family != "stock" or self._rhythm.nxt_phase(now_ns) not in ("nxt_pre", "nxt_after"):
            return []
        nxt_want = [t for t in want if t in _NXT_TRS]
        if not nxt_want:
            return []
        traded = trade(st, self._rng, nxt_only=True) if self._rng.random() < 0.4 else None
        if traded is None:
            quote(st, self._rng)
        return self._render(st, nxt_want, now_ns, "open", traded)

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
            return self._stocks.render(st, want, now_ns, phase, traded)
        if st.family == "deriv":
            return self._derivs.render(st, want, phase, traded)
        return self._overseas.render(st, want, now_ns, traded)

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
