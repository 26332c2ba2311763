"""Every print the simulated market makes, kept per instrument, for LS's backfill TRs.

``PrintHistory.add`` is called by ``MarketModel`` once per print (KRX and NXT stock prints, KRX
futures and options, overseas futures and options, auction prints included), whether or not any
WebSocket frame carries it. It appends one small tuple to the instrument's deque and nothing
else: cumulative values (volume, side volumes and counts, value) are not stored per print but
recovered when REST asks, by walking back from the tape's current totals and subtracting each
print. The tapes are the very objects the WebSocket frames are rendered from, so a REST row's
cumulative ``volume`` equals, print for print, the ``volume`` (S3_/K3_/NS3/US3, FC9/FC0/OC0) or
``totq`` (OVC/WOC) of the frame of the same print, and ``cvolume`` equals ``cvolume``/``trdq``.

Memory: the last ``PRINTS_PER_INSTRUMENT`` (20,000) prints per instrument and trading day, plus
the previous trading day's (o3136 ``gubun=1``). An entry is a 3- to 9-tuple of mostly shared
objects: about 100 bytes for a stock print, 70 for an overseas one and 250 for a KRX derivative
one, so a busy instrument holds at most ~2-5 MB per day kept. Older prints are dropped; a backfill
that pages past them simply reaches the end of the rows (``tr_cont`` N).

The backfill TRs themselves are rendered from this history by ``gatherer.sim.backfill``. It does
no I/O and reads no clock: the caller passes ``now_ns``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from gatherer.sim.market.rhythm import _DAY_CUT_S, _NS, _SEOUL_OFFSET_S
from gatherer.sim.market.state import ChangeFn, _State, _Traded

PRINTS_PER_INSTRUMENT = 20_000
"""Prints kept per instrument and trading day (a deque; the oldest are dropped)."""

_STOCK, _DERIV, _OVERSEAS = 0, 1, 2
_KINDS = {"stock": _STOCK, "deriv": _DERIV, "overseas": _OVERSEAS}
_ENTRY = tuple[Any, ...]


def trading_day(now_ns: int) -> int:
    """The simulated trading day of a time (days since 1970-01-01, cut at 07:00 Seoul), as the model's."""
    return (now_ns // _NS + _SEOUL_OFFSET_S - _DAY_CUT_S) // 86_400


class _Stream:
    """One instrument's prints on one trading day, and the tapes that hold their running totals."""

    __slots__ = ("count", "day", "kind", "krx", "nxt", "prints", "st")

    def __init__(self, st: _State, limit: int) -> None:
        self.st = st
        self.day = st.day
        self.kind = _KINDS[st.family]
        self.krx = st.krx
        self.nxt = st.nxt
        """The day's tape objects: the model replaces them at a new day, so these keep their totals."""
        self.prints: deque[_ENTRY] = deque(maxlen=limit)
        self.count = 0
        """Prints recorded today; the newest has sequence number ``count``."""

    def totals(self) -> tuple[int, ...]:
        """Cumulative values as of the newest print (see ``_subtract`` for the layout)."""
        k = self.krx
        if self.kind == _STOCK:
            n = self.nxt
            return (
                k.volume,
                k.mdvol,
                k.mdcnt,
                k.msvol,
                k.mscnt,
                n.volume,
                n.mdvol,
                n.mdcnt,
                n.msvol,
                n.mscnt,
            )
        if self.kind == _DERIV:
            return (k.volume, k.value, k.mdvol, k.mdcnt, k.msvol, k.mscnt)
        return (k.volume,)


class PrintHistory:
    """Per-instrument print history for the current and the previous trading day."""

    def __init__(self, change: ChangeFn, limit: int = PRINTS_PER_INSTRUMENT) -> None:
        self.change = change
        self.limit = limit
        """Deque length for streams opened from now on."""
        self._streams: dict[_State, _Stream] = {}
        self._prev: dict[_State, _Stream] = {}
        self._by_code: dict[tuple[str, str], _State] = {}

    def add(self, st: _State, traded: _Traded, buy: bool | None, hms: str, now_ns: int, k200: float) -> None:
        """Record one print (hot path): called after the tape has recorded it. ``buy`` None = auction."""
        stream = self._streams.get(st)
        if stream is None or stream.day != st.day:
            stream = self._open(st)
        stream.count += 1
        kind = stream.kind
        if kind == _STOCK:
            side = 0 if buy is None else 1 if buy else 2
            flag = side + 3 if traded.venue == "nxt" else side
            stream.prints.append((hms, traded.price, traded.size, flag))
        elif kind == _DERIV:
            side = 0 if buy is None else 1 if buy else 2
            stream.prints.append(
                (
                    now_ns,
                    traded.price,
                    traded.size,
                    side,
                    traded.notional,
                    st.ask_px[0],
                    st.bid_px[0],
                    st.openyak,
                    k200,
                )
            )
        else:
            stream.prints.append((now_ns, traded.price, traded.size))

    def _open(self, st: _State) -> _Stream:
        old = self._streams.get(st)
        if old is not None:
            self._prev[st] = old
        stream = self._streams[st] = _Stream(st, self.limit)
        self._by_code[(st.inst.market, st.inst.symbol)] = st
        return stream

    def stream(self, market: str, symbol: str, day: int) -> _Stream | None:
        """The instrument's prints of trading ``day``, if any were made and are still kept."""
        st = self._by_code.get((market, symbol))
        if st is None:
            return None
        for stream in (self._streams.get(st), self._prev.get(st)):
            if stream is not None and stream.day == day:
                return stream
        return None

    def prints(self, market: str, symbol: str, day: int) -> int:
        """How many prints the instrument made on ``day`` (kept or not); 0 if none."""
        stream = self.stream(market, symbol, day)
        return stream.count if stream is not None else 0
