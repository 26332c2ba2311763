"""Per-TR call pacing for the LS REST API (LS_OPENAPI.md §1.4, §8.1).

LS limits each REST TR to a number of calls per second per app key and answers the excess
with HTTP 500 ``IGW00201``. The limiter keeps us under that so the venue never has to say so.

``wait_s`` is the pure core (given recent call times, how long until one more call fits);
``RateLimiter`` is the thin async shell that awaits its turn per TR. The venue stamps a call when
it arrives, not when we send it, so a call's slot is counted from when its answer came back
(``RateLimiter`` says why that is enough), plus a small margin on the window.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType

from gatherer.clock import Clock


@dataclass(frozen=True, slots=True)
class TrLimit:
    """Where a TR lives and how often one app key may call it."""

    path: str
    per_s: float
    """Calls per second, personal (개인) column of §1.4 / §8.1."""


_STOCK_ETC = "/stock/etc"
_STOCK_DATA = "/stock/market-data"
_FO_DATA = "/futureoption/market-data"
_OVS_DATA = "/overseas-futureoption/market-data"

TR_LIMITS: Mapping[str, TrLimit] = MappingProxyType(
    {
        # masters (§1.4, §4)
        "t8436": TrLimit(_STOCK_ETC, 2),
        "t8430": TrLimit(_STOCK_ETC, 2),
        "t9945": TrLimit(_STOCK_DATA, 2),
        "t8407": TrLimit(_STOCK_DATA, 2),
        "t8467": TrLimit(_FO_DATA, 2),
        "t8432": TrLimit(_FO_DATA, 2),
        "t8433": TrLimit(_FO_DATA, 2),
        "t8455": TrLimit(_FO_DATA, 2),
        "o3101": TrLimit(_OVS_DATA, 1),
        "o3121": TrLimit(_OVS_DATA, 1),
        # backfill (§8.1)
        "t1301": TrLimit(_STOCK_DATA, 2),
        "t8454": TrLimit(_STOCK_DATA, 1),
        "t1310": TrLimit(_STOCK_DATA, 2),
        "t2212": TrLimit(_FO_DATA, 2),
        "t2201": TrLimit(_FO_DATA, 2),
        "o3116": TrLimit(_OVS_DATA, 1),
        "o3136": TrLimit(_OVS_DATA, 1),
    }
)
"""Defaults; ``with_overrides`` applies per-TR rates from settings."""

DEFAULT_LIMIT = TrLimit("", 1.0)
"""Used for a TR missing from the table: the slowest rate LS publishes."""


def with_overrides(
    base: Mapping[str, TrLimit], per_s: Mapping[str, float] | None = None, *, scale: float = 1.0
) -> Mapping[str, TrLimit]:
    """``base`` with some TRs' rates replaced and every rate multiplied by ``scale``."""
    per_s = per_s or {}
    for tr_cd, rate in per_s.items():
        if rate <= 0:
            raise ValueError(f"rate limit for {tr_cd} must be above 0, got {rate}")
    out = {tr: TrLimit(lim.path, per_s.get(tr, lim.per_s) * scale) for tr, lim in base.items()}
    for tr, rate in per_s.items():
        if tr not in out:
            out[tr] = TrLimit("", rate * scale)
    return MappingProxyType(out)


def window(per_s: float, window_s: float = 1.0) -> tuple[int, float]:
    """(calls allowed, window seconds) for a rate: 2/s -> (2, 1 s); 0.5/s -> (1, 2 s)."""
    calls = max(1, int(per_s))
    return calls, window_s * calls / per_s


def wait_s(call_times: Iterable[float], now: float, per_s: float, window_s: float = 1.0) -> float:
    """Seconds to wait before one more call keeps every window within the limit (0 = go now).

    ``call_times`` are earlier calls' monotonic times, oldest first.
    """
    calls, span = window(per_s, window_s)
    recent = [t for t in call_times if now - t < span]
    if len(recent) < calls:
        return 0.0
    return max(0.0, recent[-calls] + span - now)


def backoff_s(attempt: int, *, base_s: float, cap_s: float, rnd: random.Random) -> float:
    """Capped exponential backoff with full jitter in its upper half: attempt 0 -> ~base_s."""
    ceiling = min(cap_s, base_s * 2.0**attempt)
    return ceiling / 2 + rnd.random() * ceiling / 2


Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """Awaits each TR's turn so one app key never exceeds that TR's calls per second at the venue.

    The venue counts a call when it *arrives*, which is some time after we send it: arrivals
    bunch when the network or either side's CPU is busy, so spacing sends a window apart is not
    enough (a loaded run saw 14 of 30 calls refused that way). A turn therefore holds its slot
    from the send until the response is in, and the slot is counted at that completion time: the
    venue stamped the call before it answered, so the next call, sent at least a window after
    that completion, arrives at least a window after the earlier arrival, however late either was
    delivered. ``margin_s`` widens the window a little beyond that, for a venue whose window is
    measured with a coarser clock. The price is one round trip per window of throughput.
    """

    def __init__(
        self,
        clock: Clock,
        limits: Mapping[str, TrLimit] = TR_LIMITS,
        *,
        margin_s: float = 0.05,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._limits = limits
        self._window_s = 1.0 + margin_s
        self._sleep = sleep
        self._done: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}
        self._completed: dict[str, asyncio.Event] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.waited_s_total = 0.0
        """Seconds spent waiting for a turn, summed over TRs."""

    def limit(self, tr_cd: str) -> TrLimit:
        return self._limits.get(tr_cd, DEFAULT_LIMIT)

    @asynccontextmanager
    async def turn(self, tr_cd: str) -> AsyncIterator[None]:
        """Enter when a call to ``tr_cd`` may be sent now; send it and read its answer inside.

        The slot counts from the moment the block is left (answer received, or the call failed).
        """
        await self._enter(tr_cd)
        try:
            yield
        finally:
            self._in_flight[tr_cd] -= 1
            self._done[tr_cd].append(self._clock.monotonic())
            self._completed[tr_cd].set()

    async def _enter(self, tr_cd: str) -> None:
        lock = self._locks.setdefault(tr_cd, asyncio.Lock())
        per_s = self.limit(tr_cd).per_s
        calls, _span = window(per_s, self._window_s)
        done = self._done.setdefault(tr_cd, deque(maxlen=calls))
        completed = self._completed.setdefault(tr_cd, asyncio.Event())
        self._in_flight.setdefault(tr_cd, 0)
        async with lock:  # one waiter per TR at a time: turns are taken in order
            while True:
                in_flight = self._in_flight[tr_cd]
                if in_flight >= calls:
                    # Every slot is out: the next one frees a window after some call completes.
                    completed.clear()
                    await completed.wait()
                    continue
                now = self._clock.monotonic()
                # In-flight calls may arrive at any moment up to their completion: count them as now.
                delay = wait_s([*done, *[now] * in_flight], now, per_s, self._window_s)
                if delay <= 0:
                    self._in_flight[tr_cd] += 1
                    return
                self.waited_s_total += delay
                await self._sleep(delay)


__all__ = [
    "DEFAULT_LIMIT",
    "TR_LIMITS",
    "RateLimiter",
    "TrLimit",
    "backoff_s",
    "wait_s",
    "window",
    "with_overrides",
]
