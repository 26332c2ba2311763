"""The frames of an overseas futures or options event: books (OVH/WOH) and trades (OVC/WOC), in
the exchange's local time as well as Seoul's.

The book has the KRX derivative layout (``derivs._levels``). ``quirky`` renders prices as LS's
documentation shows them, e.g. "0. 14997.75" (§2.5), for fault tests only. Nothing here moves
the book or draws random numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from zoneinfo import ZoneInfo

from gatherer.sim.market.derivs import _levels
from gatherer.sim.market.rhythm import _NS, Now
from gatherer.sim.market.state import ChangeFn, _State, _Traded
from gatherer.sim.market.wire import Body, Frame, _Shown


class OverseasFrames:
    """Renders the frames of one overseas event; caches exchange-local times."""

    def __init__(self, now: Now, change: ChangeFn, quirky: bool) -> None:
        self._now = now
        self._change = change
        self._quirky = quirky
        self._offsets: dict[tuple[str, int], int] = {}
        self._local_hms: dict[str, tuple[int, str]] = {}

    def new_second(self) -> None:
        """Forget the exchange-local times of the previous second."""
        self._local_hms.clear()

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
            body = _levels(st, shown, lambda p: self._quirk(pcache[p]))
        else:
            body = _levels(st, shown, st.pcache.__getitem__)
        body["hotime"] = local_hms
        return body.copy()

    def render(self, st: _State, want: Collection[str], now_ns: int, traded: _Traded | None) -> list[Frame]:
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
            "ovsdate": self._now.date(local_day),
            "kordate": self._now.ymd,
            "trdtm": local_hms,
            "kortm": self._now.hms,
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
            "ovsmkend": self._now.date(local_day + 1) if late else self._now.date(local_day),
        }
        out.append((trade_tr, body))
        return out
