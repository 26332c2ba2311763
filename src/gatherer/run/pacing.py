"""Pacing a worker's traffic per app key, as the venue counts it.

- ``KeyPace``: one app key's registration requests, at most ``registrations_per_s`` per second a
  little under the venue's window (``plan.pack.slot_at``, the same rule ``gatherer plan`` computes
  its time with), handed to the waiting request whose stream delivered the most frames.
- ``ConnectTurns``: one app key's connection attempts, one at a time and ``reconnect_stagger_s``
  apart, so a venue restart that drops them all does not bring them all back in one instant.

Both live on the worker's event loop; stop answers every waiter at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import AsyncIterator

from gatherer.plan.pack import slot_at


class _Turn:
    """The connection attempts of one app key: one at a time, spaced."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.next_at = 0.0
        """Event-loop time before which the next attempt does not start."""


class Stopping(Exception):
    """Stop came while a connection waited for its key's next registration slot."""


class KeyPace:
    """One app key's registration pace: ``slot_at`` (on average one slot every ``interval_s``), to
    the busiest waiting stream.

    Every connection of the key asks for a slot before each registration request, saying how many
    frames that registration's stream has delivered; when a slot is due, the waiting request with
    the most goes (ties: the one that asked first, so the plan's order stands while nothing has
    streamed). The pace idles only while nobody waits. ``drive`` hands out the slots; it runs in
    the worker's task group until stop, and then answers every waiter "no".
    """

    def __init__(self, interval_s: float, burst: int) -> None:
        self.interval_s = interval_s
        self._burst = burst
        self._waiting: list[tuple[int, int, asyncio.Future[bool]]] = []
        """Heap of (-frames, ask order, the asker's future)."""
        self._order = itertools.count()
        self._wanted = asyncio.Event()
        self._sent: deque[float] = deque(maxlen=burst)
        """Event-loop times of the latest slots (the venue counts real seconds)."""
        self._closed = False

    async def turn(self, frames: int) -> bool:
        """Wait for this key's next slot; False when the worker is stopping (send nothing then)."""
        if self._closed:
            return False
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (-frames, next(self._order), fut))
        self._wanted.set()
        try:
            return await fut
        finally:
            if not fut.done():
                fut.cancel()  # the asker was cancelled: its slot goes to the next one

    async def drive(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                while not self._waiting:
                    self._wanted.clear()
                    wanted = asyncio.ensure_future(self._wanted.wait())
                    await asyncio.wait({wanted, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    wanted.cancel()
                    if stopping.done():
                        return
                delay = slot_at(self._sent, self.interval_s, self._burst) - loop.time()
                if delay > 0:
                    await asyncio.wait({stopping}, timeout=delay)
                    if stopping.done():
                        return
                _, _, fut = heapq.heappop(self._waiting)
                if fut.done():
                    continue  # its asker went away
                fut.set_result(True)
                self._sent.append(loop.time())
        finally:
            stopping.cancel()
            self._closed = True
            for _, _, fut in self._waiting:
                if not fut.done():
                    fut.set_result(False)
            self._waiting.clear()


class ConnectTurns:
    """The connection attempts of each app key: one at a time, ``stagger_s`` apart."""

    def __init__(self, stagger_s: float) -> None:
        self._stagger_s = stagger_s
        self._turns: dict[int, _Turn] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key_index: int, stop: asyncio.Event) -> AsyncIterator[bool]:
        """One connection attempt of an app key at a time, ``stagger_s`` after the last ended; yields
        False when ``stop`` was set while waiting (do not connect then)."""
        turn = self._turns.get(key_index)
        if turn is None:
            turn = self._turns[key_index] = _Turn()
        loop = asyncio.get_running_loop()
        async with turn.lock:
            delay = turn.next_at - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            try:
                yield not stop.is_set()
            finally:
                turn.next_at = loop.time() + self._stagger_s


__all__ = ["ConnectTurns", "KeyPace", "Stopping"]
