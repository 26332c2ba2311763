"""The frames of a KRX stock event: books (H1_/HA_, NXT NH1, 통합 UH1), trades (S3_/K3_, NS3,
US3), brokers (K1_/OK_, NK1, UK1), expected prices in auctions (YS3/YK3) and VI_.

Values are rendered from the instrument's ``_State`` as LS sends them (LS_OPENAPI.md §3); outside
auction prints volume equals mdvolume + msvolume, and auction prints move neither side (§8.3).
Nothing here moves the book or draws random numbers.
"""

from __future__ import annotations

from collections.abc import Collection
from operator import add

from gatherer.sim.market.brokers import _MD_KEYS, _MS_KEYS, _Brokers, _foreign, _rank_side, _Ranks
from gatherer.sim.market.rhythm import _AUCTIONS, _NS, Now
from gatherer.sim.market.state import ChangeFn, _State, _Tape, _Traded, _unified_shown
from gatherer.sim.market.wire import _NAMES, Body, Frame, _put, _Shown, _template

# TRs per market: book, trade, broker, expected. NXT/통합 variants are shared by both stock markets.
_MARKET_TRS = {
    "kospi": ("H1_", "S3_", "K1_", "YS3"),
    "kosdaq": ("HA_", "K3_", "OK_", "YK3"),
}


class StockFrames:
    """Renders the frames of one stock event for the TRs asked for."""

    def __init__(self, now: Now, change: ChangeFn) -> None:
        self._now = now
        self._change = change

    def render(
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
        if "VI_" in want or "NVI" in want or "UVI" in want:
            vi = self._vi(st, traded, now_ns)
            if vi is not None:
                out.extend(_vi_venues(vi, want))
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
        body["hotime"] = self._now.hms
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
        body["hotime"] = self._now.hms
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
            body["time"] = self._now.hms
            body["exchname"] = extra[0]
        shown.shown_md[:] = md
        shown.shown_ms[:] = ms
        return body.copy()

    def _expected(self, st: _State) -> Body:
        sign, change, rate = self._change(st, st.yeprice)
        values = [
            self._now.hms,
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
        """VI_: static at ±10% from its base, dynamic when one order walks 3+ levels; released 2 min later.
        One VI per stock, on a print of either venue: NXT halts with KRX (``_vi_venues``)."""
        code = st.inst.symbol
        if st.vi_until_ns and now_ns >= st.vi_until_ns:
            st.vi_until_ns = 0
            return dict(
                zip(_NAMES["VI_"], ["0", "0", "0", "0", code, code, self._now.hms, "KRX"], strict=True)
            )
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
        values = [gubun, svi, dvi, str(traded.price), code, code, self._now.hms, "KRX"]
        return dict(zip(_NAMES["VI_"], values, strict=True))


def _vi_venues(vi: Body, want: Collection[str]) -> list[Frame]:
    """A stock's VI as each venue's TR shows it: VI_ (KRX), NVI (NXT: shcode, ex_shcode ``N…``),
    UVI (통합: the KRX and NXT sides side by side, both halted together)."""
    out: list[Frame] = []
    code = vi["shcode"]
    if "VI_" in want:
        out.append(("VI_", vi))
    if "NVI" in want:
        out.append(("NVI", {**vi, "exchname": "NXT", "ex_shcode": "N" + code}))
    if "UVI" in want:
        body = {f"{side}_{name}": vi[name] for side in ("krx", "nxt") for name in _VI_SIDE}
        body.update(shcode=code, ref_shcode=vi["ref_shcode"], exchname="KRX", ex_shcode="U" + code)
        out.append(("UVI", body))
    return out


_VI_SIDE = ("vi_gubun", "svi_recprice", "dvi_recprice", "vi_trgprice", "time")
