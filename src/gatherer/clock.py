"""Injectable clocks and trading-day arithmetic.

Every place that reads time takes a ``Clock``; tests pass a ``ManualClock`` (or the
simulator's accelerated clock) to cross the 07:30 cutoff or replay a whole day in
seconds. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Protocol
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")
DEFAULT_CUTOFF = dt.time(7, 30)
_NS = 1_000_000_000


class Clock(Protocol):
    """Wall time in UTC nanoseconds, plus a monotonic reading for intervals."""

    def time_ns(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    speed = 1.0

    def time_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start_ns: int) -> None:
        self._now_ns = start_ns
        self._mono = 0.0

    def time_ns(self) -> int:
        return self._now_ns

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now_ns += int(seconds * _NS)
        self._mono += seconds

    def set(self, now_ns: int) -> None:
        if now_ns < self._now_ns:
            raise ValueError("a ManualClock does not go backwards")
        self._mono += (now_ns - self._now_ns) / _NS
        self._now_ns = now_ns


class ScaledClock:
    """Wall time that runs ``speed`` times faster than real time from ``start_ns``.

    The simulator uses it to play a whole trading day in seconds. ``anchor_ns`` is the real
    (system) time at which this clock reads ``start_ns``; processes built from the same ``spec``
    read the same time, so a supervisor, its workers and the simulator share one compressed day.

    ``then``: changes of speed, ``(switch_ns, speed)`` in time order: from the moment the clock reads
    ``switch_ns`` it runs at that speed, so a test can cross a weekend in seconds and still watch an
    open or a close at a pace the processes keep up with. The changes are part of the spec: every
    process switches at once.
    """

    def __init__(
        self,
        start_ns: int,
        speed: float,
        base: Clock | None = None,
        *,
        anchor_ns: int | None = None,
        then: Sequence[tuple[int, float]] | None = None,
    ) -> None:
        self._base = base or SystemClock()
        self._start_ns = start_ns
        self._speed = speed
        self._anchor_ns = self._base.time_ns() if anchor_ns is None else anchor_ns
        self._t0 = self._base.monotonic() - (self._base.time_ns() - self._anchor_ns) / _NS
        self._then: list[tuple[int, float]] = [(int(t), float(v)) for t, v in then or ()]
        # Segments: (real seconds after _t0 where it starts, simulated seconds then, speed).
        self._segments: list[tuple[float, float, float]] = [(0.0, 0.0, speed)]
        at_ns = start_ns
        for switch_ns, new_speed in self._then:
            real, sim, old = self._segments[-1]
            if switch_ns < at_ns or new_speed <= 0 or old <= 0:
                raise ValueError(
                    f"then={self._then!r}: switches must be in time order from the start, speeds above 0"
                )
            sim_at = (switch_ns - start_ns) / _NS
            self._segments.append((real + (sim_at - sim) / old, sim_at, new_speed))
            at_ns = switch_ns

    def _segment(self, real: float) -> tuple[float, float, float]:
        current = self._segments[0]
        for seg in self._segments[1:]:
            if real < seg[0]:
                break
            current = seg
        return current

    def _sim_s(self) -> float:
        real = self._base.monotonic() - self._t0
        start_real, start_sim, speed = self._segment(real)
        return start_sim + (real - start_real) * speed

    def time_ns(self) -> int:
        return self._start_ns + int(self._sim_s() * _NS)

    def monotonic(self) -> float:
        return self._sim_s()

    @property
    def speed(self) -> float:
        """Simulated seconds per real second, now."""
        return self._segment(self._base.monotonic() - self._t0)[2]

    @property
    def spec(self) -> str:
        """``start_ns:speed:anchor_ns[:switch_ns:speed]…``, what ``from_spec`` takes back elsewhere."""
        changes = "".join(f":{t}:{v!r}" for t, v in self._then)
        return f"{self._start_ns}:{self._speed!r}:{self._anchor_ns}{changes}"

    @classmethod
    def from_spec(cls, spec: str) -> ScaledClock:
        parts = spec.split(":")
        if len(parts) < 3 or len(parts) % 2 == 0:
            raise ValueError(f"{spec!r}: expected start_ns:speed:anchor_ns[:switch_ns:speed]…")
        start, speed, anchor, *rest = parts
        then = [(int(rest[i]), float(rest[i + 1])) for i in range(0, len(rest), 2)]
        return cls(int(start), float(speed), anchor_ns=int(anchor), then=then or None)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_seoul(ns: int) -> dt.datetime:
    """The Asia/Seoul wall time of a UTC nanosecond timestamp (floored to the microsecond).

    Integer arithmetic: a float of a nanosecond timestamp rounds, and one nanosecond
    before the cutoff must stay on the earlier trading day.
    """
    return (_EPOCH + dt.timedelta(microseconds=ns // 1000)).astimezone(SEOUL)


def seoul_ns(day: dt.date, at: dt.time) -> int:
    """UTC nanoseconds of a Seoul wall-clock time on a date."""
    local = dt.datetime.combine(day, at, tzinfo=SEOUL)
    return int(local.timestamp()) * _NS + local.microsecond * 1000


def trading_day_of(ns: int, cutoff: dt.time = DEFAULT_CUTOFF) -> dt.date:
    """The trading day a receive time belongs to: the Seoul date of (time - cutoff).

    With the default 07:30 cutoff, 2026-11-25 07:29:59 KST is still 2026-11-24.
    """
    local = to_seoul(ns)
    shift = dt.timedelta(hours=cutoff.hour, minutes=cutoff.minute, seconds=cutoff.second)
    return (local - shift).date()


def next_cutoff_ns(ns: int, cutoff: dt.time = DEFAULT_CUTOFF) -> int:
    """UTC nanoseconds of the first cutoff strictly after ``ns``."""
    day = trading_day_of(ns, cutoff)
    return seoul_ns(day + dt.timedelta(days=1), cutoff)


EXCHANGE_CUTOFFS: Mapping[str, dt.time] = {
    "kospi": dt.time(0, 0),
    "kosdaq": dt.time(0, 0),
    "kfutures": dt.time(0, 0),
    "koptions": dt.time(0, 0),
    "stock": dt.time(0, 0),
}
"""The exchange's own rule where no ``cutoff`` is configured: KRX's stocks and day derivatives trade
on the KST calendar date of their session (a cutoff of 00:00). Overseas markets take 07:30, the
original tool's rule. The KRX night session (DH0/DC0) has a rule of its own, the next session
date (``venues.ls.night``), applied by the decoder per TR."""


class TradingDays:
    """The trading-day rule, fed the configured cutoffs (``[markets.<m>] cutoff``).

    A row's ``trading_day`` is the Seoul date of (receive time − its market's cutoff): the
    configured one, else the exchange's (``EXCHANGE_CUTOFFS``: KRX the calendar date), else 07:30;
    two-market stock TRs whose market is unknown (``stock``) take KOSPI's. Everything that is not
    one market's row — journal segments, quarantine lines, the ledger, retention, the run's day —
    goes by the default 07:30 (``of(ns)`` with no market), so a journal day and its quarantine
    always agree; a journal day D holds KRX's day session of D and the night session starting on
    D's evening (whose rows are dated the next KRX session date).
    """

    __slots__ = ("_cutoffs",)

    def __init__(self, cutoffs: Mapping[str, dt.time] | None = None) -> None:
        self._cutoffs = dict(cutoffs or {})

    def cutoff(self, market: str | None = None) -> dt.time:
        if market is None:
            return DEFAULT_CUTOFF
        cut = self._cutoffs.get(market)
        if cut is None and market == "stock":
            cut = self._cutoffs.get("kospi")
        if cut is None:
            cut = EXCHANGE_CUTOFFS.get(market)
        return DEFAULT_CUTOFF if cut is None else cut

    def of(self, ns: int, market: str | None = None) -> dt.date:
        """The trading day of a receive time, for a market's rows (or, with none, the run's day)."""
        return trading_day_of(ns, self.cutoff(market))
