"""The ``session`` column: which phase of the trading day each row was received in, from the
market-status (JIF) and VI frames of the same journal, in journal order.

The rule (docs/formats.md, "Session phase"):

1. Every JIF frame moves the phase of the market it names (``jangubun`` 1 KOSPI, 2 KOSDAQ,
   5 KRX derivatives, 6 NXT) to the phase its ``jstatus`` starts (``JSTATUS_PHASES``); a code
   not in the table leaves the phase as it was.
2. A row takes the phase of its market (NXT rows the NXT phase; consolidated rows KRX's, or
   NXT's while KRX is closed) in force at its journal ``seq``: the last JIF before it, if that
   JIF arrived on the row's Seoul date. Before the day's first JIF the phase comes from the
   regular timetable (``TIMETABLE``) at the row's receive time, so a run started mid-session
   still labels its rows.
3. While a VI is on for a symbol (VI_ / NVI / UVI ``vi_gubun`` 1, 2 or 3, until a ``0`` for it on
   the same Seoul date), that symbol's continuous-trading rows on that venue are ``halted``.
4. JIF rows carry the phase they announce; overseas rows carry none (null).
5. Rows of the KRX night session's own TRs (``NIGHT_TRS``: DH0, DC0, DYC) are ``night``; JIF
   jangubun 8 rows say ``night`` for any phase but the close.

Everything comes from the journal (``seq``, ``recv_ns`` and the frames' values as sent), so a
rebuild of a day gives the same column, and the store keeps the state in its checkpoint
(``state`` / ``Phases(state)``) so a restarted store goes on where it stopped. No I/O, no clock.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PHASES = (
    "pre_open",
    "continuous",
    "closing_auction",
    "after_close",
    "after_single",
    "nxt_pre",
    "nxt_after",
    "halted",
    "closed",
    "night",
)
"""Every value of the ``session`` column (``night`` is the KRX night derivatives session)."""

JSTATUS_PHASES: Mapping[str, str] = {
    "11": "pre_open",  # 장전동시호가개시
    "21": "continuous",  # 장시작
    "31": "closing_auction",  # 장후동시호가개시
    "41": "closed",  # 장마감
    "51": "after_close",  # 시간외종가매매개시
    "52": "after_single",  # 시간외종가매매종료, 시간외단일가매매개시
    "54": "closed",  # 시간외단일가매매종료
    "55": "nxt_pre",  # NXT 프리마켓개시 (LS_OPENAPI.md §3.1 lists 51–58 together; order assumed)
    "56": "closed",  # NXT 프리마켓종료
    "57": "nxt_after",  # NXT 애프터마켓개시
    "58": "closed",  # NXT 애프터마켓종료
    "61": "halted",  # 서킷브레이크1단계발동 (stocks); derivatives: 당일 장종료, see _DERIV
    "62": "halted",  # 서킷브레이크해제, 호가접수개시: the reopening auction
    "63": "continuous",  # 서킷브레이크, 동시호가종료
    "68": "halted",  # 서킷브레이크2단계발동
    "69": "closed",  # 서킷브레이크3단계발동, 당일 장종료
    "70": "halted",  # 서킷브레이크2단계해제, 호가접수개시
    "71": "continuous",  # 서킷브레이크2단계, 동시호가종료
}
"""JIF ``jstatus`` -> the phase it starts (LS's JIF code list, WEBSOCKET[기타]; LS_OPENAPI.md §3.1)."""
_DERIV = {"61": "closed"}
"""Where KRX derivatives (jangubun 5) read a code differently: 61 is 코스피관련파생상품 당일 장종료."""

JANGUBUN_GROUP: Mapping[str, str] = {"1": "kospi", "2": "kosdaq", "5": "deriv", "6": "nxt", "8": "night"}
"""JIF ``jangubun`` -> the phase group it moves (other codes name markets recorded elsewhere)."""
_MARKET_GROUP = {
    "kospi": "kospi",
    "kosdaq": "kosdaq",
    "stock": "kospi",
    "kfutures": "deriv",
    "koptions": "deriv",
}

_H = 3600
TIMETABLE: Mapping[str, tuple[tuple[int, str], ...]] = {
    "stock": (
        (0, "closed"),
        (8 * _H + 30 * 60, "pre_open"),
        (9 * _H, "continuous"),
        (15 * _H + 20 * 60, "closing_auction"),
        (15 * _H + 30 * 60, "closed"),
        (15 * _H + 40 * 60, "after_close"),
        (16 * _H, "after_single"),
        (18 * _H, "closed"),
    ),
    "deriv": (
        (0, "closed"),
        (8 * _H + 30 * 60, "pre_open"),
        (8 * _H + 45 * 60, "continuous"),
        (15 * _H + 35 * 60, "closing_auction"),
        (15 * _H + 45 * 60, "closed"),
    ),
    "nxt": (
        (0, "closed"),
        (8 * _H, "nxt_pre"),
        (8 * _H + 50 * 60, "closed"),
        (9 * _H, "continuous"),
        (15 * _H + 20 * 60, "closed"),
        (15 * _H + 30 * 60, "nxt_after"),
        (20 * _H, "closed"),
    ),
}
"""The regular day in Seoul seconds of day (phase from each start), used before the day's first JIF:
KRX stocks 08:30 opening auction, 09:00–15:20, closing auction to 15:30, after-hours closing price
15:40–16:00 and single price 16:00–18:00; KRX derivatives 08:45–15:35 (auction from 08:30, closing
auction to 15:45); NXT pre-market 08:00–08:50, main 09:00–15:20, after-market 15:30–20:00."""

_NS = 1_000_000_000
_SEOUL_S = 9 * _H
_VI_ON = ("1", "2", "3")
VI_TRS = {"VI_": "krx", "NVI": "nxt", "UVI": "unified"}
NIGHT_TRS = frozenset({"DH0", "DC0", "DYC"})
"""The KRX night derivatives session's TRs (18:00–06:00): every row of theirs is ``night``."""
STATUS_TR = "JIF"


def seoul_day(recv_ns: int) -> int:
    """Days since 1970-01-01 of the Seoul date of a receive time (Seoul has no daylight saving)."""
    return (recv_ns // _NS + _SEOUL_S) // 86_400


class _Track:
    """One key's transitions in journal order: (seq, Seoul day, value)."""

    __slots__ = ("days", "seqs", "values")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.days: list[int] = []
        self.values: list[str] = []

    def add(self, seq: int, day: int, value: str) -> None:
        if self.seqs and seq < self.seqs[-1]:
            return  # journal order only; a replayed older record changes nothing
        self.seqs.append(seq)
        self.days.append(day)
        self.values.append(value)

    def at(self, seq: int, day: int) -> str | None:
        i = bisect_right(self.seqs, seq) - 1
        return self.values[i] if i >= 0 and self.days[i] == day else None

    def keep_last(self) -> None:
        del self.seqs[:-1], self.days[:-1], self.values[:-1]


class Phases:
    """JIF and VI transitions of one journal, and the ``session`` value of any row after them."""

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        self._groups: dict[str, _Track] = {}
        self._vi: dict[tuple[str, str], _Track] = {}
        self._status_rows: dict[int, str] = {}
        for group, (seq, day, value) in (state or {}).get("groups", {}).items():
            self._track(self._groups, group).add(int(seq), int(day), str(value))
        for key, (seq, day, value) in (state or {}).get("vi", {}).items():
            venue, _, symbol = key.partition(":")
            self._track(self._vi, (venue, symbol)).add(int(seq), int(day), str(value))

    @staticmethod
    def _track(tracks: dict[Any, _Track], key: Any) -> _Track:
        t = tracks.get(key)
        if t is None:
            t = tracks[key] = _Track()
        return t

    # -- transitions (the decoder calls these as frames arrive, in journal order) ---------------

    def note_status(self, seq: int, recv_ns: int, jangubun: object, jstatus: object) -> None:
        group = JANGUBUN_GROUP.get(str(jangubun).strip())
        code = str(jstatus).strip()
        phase = (_DERIV.get(code) if group == "deriv" else None) or JSTATUS_PHASES.get(code)
        if group == "night" and phase is not None and phase != "closed":
            phase = "night"
        if phase is not None:
            self._status_rows[seq] = phase
        if group is None or phase is None:
            return
        self._track(self._groups, group).add(seq, seoul_day(recv_ns), phase)

    def note_vi(self, seq: int, recv_ns: int, tr_cd: str, symbol: str, body: Mapping[str, object]) -> None:
        venue = VI_TRS.get(tr_cd)
        if venue is None or not symbol:
            return
        day = seoul_day(recv_ns)
        sides = (
            (("krx", "krx_vi_gubun"), ("nxt", "nxt_vi_gubun"))
            if venue == "unified"
            else ((venue, "vi_gubun"),)
        )
        for side, name in sides:
            gubun = body.get(name)
            if gubun is None or not str(gubun).strip():
                continue
            on = "on" if str(gubun).strip() in _VI_ON else "off"
            self._track(self._vi, (side, symbol)).add(seq, day, on)

    # -- rows -----------------------------------------------------------------------------------

    def column(
        self,
        market: str,
        venue: str,
        tr_cd: str,
        seqs: Sequence[int],
        recvs: Sequence[int],
        symbols: Sequence[str],
    ) -> list[str | None]:
        """The ``session`` of each row of one batch (one TR, one market)."""
        n = len(seqs)
        if tr_cd == STATUS_TR:
            return [self._status_rows.get(s) for s in seqs]
        if venue == "overseas" or (market not in _MARKET_GROUP and venue != "nxt"):
            return [None] * n
        seq_a = np.asarray(seqs, dtype=np.int64)
        days = (np.asarray(recvs, dtype=np.int64) // _NS + _SEOUL_S) // 86_400
        sods = (np.asarray(recvs, dtype=np.int64) // _NS + _SEOUL_S) % 86_400
        if tr_cd in NIGHT_TRS:
            return ["night"] * n  # every row of the night session's own TRs, whatever the hour
        if venue == "nxt":
            out = self._group_column("nxt", "nxt", seq_a, days, sods)
        else:
            group = _MARKET_GROUP[market]
            out = self._group_column(group, "deriv" if group == "deriv" else "stock", seq_a, days, sods)
            if venue == "unified":
                nxt = self._group_column("nxt", "nxt", seq_a, days, sods)
                out = np.where((out == "closed") & (nxt != "closed"), nxt, out)
        if self._vi:
            self._halts(out, venue, seqs, days, symbols)
        result: list[str | None] = out.tolist()
        return result

    def _group_column(
        self, group: str, table: str, seqs: np.ndarray, days: np.ndarray, sods: np.ndarray
    ) -> np.ndarray:
        starts = np.asarray([t for t, _ in TIMETABLE[table]], dtype=np.int64)
        names = np.asarray([p for _, p in TIMETABLE[table]], dtype=object)
        out = names[np.searchsorted(starts, sods, side="right") - 1]
        track = self._groups.get(group)
        if track is not None and track.seqs:
            idx = np.searchsorted(np.asarray(track.seqs, dtype=np.int64), seqs, side="right") - 1
            have = idx >= 0
            safe = np.where(have, idx, 0)
            same_day = np.asarray(track.days, dtype=np.int64)[safe] == days
            out = np.where(have & same_day, np.asarray(track.values, dtype=object)[safe], out)
        return out

    def _halts(
        self, out: np.ndarray, venue: str, seqs: Sequence[int], days: np.ndarray, symbols: Sequence[str]
    ) -> None:
        sides = ("krx", "nxt") if venue == "unified" else (venue,)
        watched = {s for (v, s) in self._vi if v in sides}
        if not watched:
            return
        candidates = np.flatnonzero(
            np.isin(np.asarray(symbols, dtype=object), list(watched)) & (out == "continuous")
        )
        for i in candidates.tolist():
            symbol = symbols[i]
            for side in sides:
                track = self._vi.get((side, symbol))
                if track is not None and track.at(seqs[i], int(days[i])) == "on":
                    out[i] = "halted"
                    break

    # -- bounds and the checkpoint --------------------------------------------------------------

    def settle(self) -> None:
        """Forget what no pending row can need (call when every row so far is in a batch): the last
        phase per market, the last state per symbol's VI."""
        for t in self._groups.values():
            t.keep_last()
        for key in [k for k, t in self._vi.items() if t.values and t.values[-1] == "off"]:
            del self._vi[key]
        for t in self._vi.values():
            t.keep_last()
        self._status_rows.clear()

    def state(self) -> dict[str, Any]:
        """The last transition per market and the VIs on, as JSON-ready data for the checkpoint."""
        return {
            "groups": {g: [t.seqs[-1], t.days[-1], t.values[-1]] for g, t in self._groups.items() if t.seqs},
            "vi": {
                f"{v}:{s}": [t.seqs[-1], t.days[-1], t.values[-1]]
                for (v, s), t in self._vi.items()
                if t.seqs and t.values[-1] == "on"
            },
        }
