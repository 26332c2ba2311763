"""The frames of a KRX derivative event: futures books and trades (FH9/FH0, FC9/FC0), options
(OH0, OC0), with the KOSPI200 index they quote against.

The index follows the front future's prints (less its basis) and drifts back to where it started
on option prints; option theory prices are Black-Scholes at each series' implied volatility.
``value`` is reported in 백만원 at ``_KRX_MULTIPLIER`` KRW a point (§3.6). Draws only the index's
noise from the generator it is given.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection

from gatherer.sim.market.rhythm import _AUCTIONS, _JGUBUN, Now
from gatherer.sim.market.state import _SQRT12, ChangeFn, _State, _Traded
from gatherer.sim.market.wire import _KRX_MULTIPLIER, Body, Frame, _put, _Shown


class DerivFrames:
    """Renders the frames of one KRX derivative event, and keeps the KOSPI200 index."""

    def __init__(self, now: Now, change: ChangeFn, rng: random.Random, k200: float) -> None:
        self._now = now
        self._change = change
        self._rng = rng
        self.k200 = k200
        """The KOSPI200 index now: futures and option frames quote against it."""
        self._k200_0 = k200

    def render(self, st: _State, want: Collection[str], phase: str, traded: _Traded | None) -> list[Frame]:
        futures = st.inst.market == "kfutures"
        if "DH0" in want or "DC0" in want:
            return self._night(st, want, phase, traded)
        book_trs = ("FH9", "FH0") if futures else ("OH0",)
        trade_trs = ("FC9", "FC0") if futures else ("OC0",)
        out: list[Frame] = []
        book: Body | None = None
        for tr in book_trs:
            if tr in want:
                book = book or self._deriv_book(st, tr, phase)
                out.append((tr, book if tr == book_trs[0] else dict(book)))
        expected_tr = "YF9" if futures else "YOC"
        if traded is None and phase in _AUCTIONS and expected_tr in want:
            out.append((expected_tr, self._expected(st, "futcode" if futures else "optcode")))
        if traded is None:
            return out
        if futures and st.inst.kind == "future":
            self.k200 = traded.price / st.unit / (1.0 + st.basis_t) + _noise(self._rng, 0.05)
        elif not futures:
            self.k200 += (self._k200_0 - self.k200) * 0.001 + _noise(self._rng, 0.02)
        trade: Body | None = None
        for tr in trade_trs:
            if tr in want:
                trade = trade or (self._fut_trade(st, phase) if futures else self._opt_trade(st, phase))
                out.append((tr, trade if tr == trade_trs[0] else dict(trade)))
        return out

    def _night(self, st: _State, want: Collection[str], phase: str, traded: _Traded | None) -> list[Frame]:
        """DH0 (FH0's fields, ``futcode`` for futures and options alike) and DC0 (``date``, FC0's
        fields, then ``eqva``, ``impv``, ``timevalue``): the night session, LS_OPENAPI.md §3.6."""
        out: list[Frame] = []
        if "DH0" in want:
            out.append(("DH0", self._deriv_book(st, "DH0", phase)))
        if traded is None or "DC0" not in want:
            return out
        futures = st.inst.market == "kfutures"
        day = self._fut_trade(st, phase) if futures else self._opt_trade(st, phase)
        body: Body = {"date": self._now.ymd}
        for name in _FC0_NAMES:
            body[name] = day.get(name, "0.00")
        body["futcode"] = st.inst.symbol
        for name in ("eqva", "impv", "timevalue"):
            body[name] = day.get(name, "0.00")
        out.append(("DC0", body))
        return out

    def _expected(self, st: _State, key: str) -> Body:
        """YF9/YOC (§3.6): the call auction's expected price and quantity so far."""
        sign, change, rate = self._change(st, st.yeprice)
        return {
            "ychetime": self._now.hms,
            "yeprice": st.pcache[st.yeprice],
            "jnilysign": sign,
            "jnilchange": change,
            "jnilydrate": rate,
            key: st.inst.symbol,
            "expct_ccls_q": str(st.auction_vol),
        }

    def _deriv_book(self, st: _State, tr: str, phase: str) -> Body:
        shown = st.shown.get(tr)
        if shown is None:
            code = "futcode" if st.inst.market == "kfutures" or tr == "DH0" else "optcode"
            shown = st.shown[tr] = _Shown(tr, {code: st.inst.symbol, "alloc_gubun": ""}, 1, st.depth, 6)
        body = _levels(st, shown, st.pcache.__getitem__)
        body["hotime"] = self._now.hms
        body["danhochk"] = "1" if phase in _AUCTIONS else "0"
        return body.copy()

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
        k200 = self.k200
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
        k200 = self.k200
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


_FC0_NAMES = (
    "chetime", "sign", "change", "drate", "price", "open", "high", "low", "cgubun", "cvolume", "volume",
    "value", "mdvolume", "mdchecnt", "msvolume", "mschecnt", "cpower", "offerho1", "bidho1", "openyak",
    "k200jisu", "theoryprice", "kasis", "sbasis", "ibasis", "openyakcha", "jgubun", "jnilvolume",
)  # fmt: skip
"""FC0's fields before ``futcode`` (the catalog's table), in order: DC0 sends them after ``date``."""


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
