"""The receive path of one connection, on one screen: socket frame → journal → counters → taps →
backpressure.

``venues.ls.ws.Session`` stamps each WebSocket message with the clock as it arrives and calls the
connection's ``Recorder`` with the bytes and that time. The recorder appends them to the worker's
journal before anything parses them, counts them (per connection, and per stream for the
busiest-first re-registration: ``venues.ls.envelope.frame_stream``, a bytes slice, no parse), hands
them to its taps (the market-status tap reads JIF, for the liveness watchdog) and, when the journal
falls behind the disk, stops reading the socket until it catches up: the venue's frames then wait
in TCP buffers, so memory stays bounded and nothing is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gatherer.capture import Journal, Kind
from gatherer.venues.ls.envelope import frame_stream, match_compact_data
from gatherer.venues.ls.ws import Session

_FRAME = Kind.FRAME  # looked up once: an IntEnum member read off its class costs more than a global

Tap = Callable[[bytes, int], None]
"""Sees every frame a connection receives (bytes, recv_ns), after it is journaled; must be cheap."""


@dataclass(slots=True)
class ConnectionStats:
    """What one connection did; the summary and the status page read these."""

    conn_id: str
    registrations: int
    key_index: int = 0
    """Which app key's token this connection registers with."""
    frames: int = 0
    """Every message received, acks included; each one is in the journal."""
    last_recv_ns: int = 0
    stalls: int = 0
    """Times the connection was silent while its market traded, and was reconnected."""
    liveness_checks: int = 0
    accepted: int = 0
    refused: int = 0
    unanswered: int = 0
    connects: int = 0
    reconnects: int = 0
    last_error: str = ""
    state: str = "connecting"
    """connecting, registering, streaming, reconnecting (waiting to try again) or stopped."""
    refusals: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(tr_cd, tr_key, rsp_cd, rsp_msg) of the latest refusals (at most 100 kept; ``refused`` counts all)."""


class Recorder:
    """One connection's receive path; called by its ``Session`` for every message it receives."""

    __slots__ = ("_append", "_journal", "_paused", "_streams", "_taps", "conn_id", "session", "stats")

    def __init__(
        self, journal: Journal, stats: ConnectionStats, streams: dict[bytes, int], taps: Sequence[Tap] = ()
    ) -> None:
        self.conn_id = stats.conn_id
        self.stats = stats
        self._journal = journal
        self._append = journal.append
        self._streams = streams
        """Data frames per stream (``envelope.stream_key``), shared by the worker's connections."""
        self._taps = tuple(taps)
        self.session: Session | None = None
        """The connection's current session: the one to pause when the journal falls behind."""
        self._paused: asyncio.Task[None] | None = None

    def __call__(self, payload: bytes, recv_ns: int) -> bool:
        """Journal, count, tap; True when the frame is data in LS's compact layout (so the session
        need not look for an acknowledgement in it)."""
        self._append(_FRAME, self.conn_id, payload, recv_ns)
        stats = self.stats
        stats.frames += 1
        stats.last_recv_ns = recv_ns
        m = match_compact_data(payload)  # frame_stream's first test, inlined: it nearly always holds
        stream = m[1] if m is not None else frame_stream(payload)
        if stream is not None:
            streams = self._streams
            try:
                streams[stream] += 1
            except KeyError:
                streams[stream] = 1
        if self._taps:
            for tap in self._taps:
                tap(payload, recv_ns)
        if self._journal.backlogged and self._paused is None and self.session is not None:
            self.session.pause_reading()
            self._paused = asyncio.get_running_loop().create_task(self._resume_when_writable(self.session))
        return m is not None

    async def _resume_when_writable(self, session: Session) -> None:
        try:
            await self._journal.wait_writable()
            session.resume_reading()
        finally:
            self._paused = None


__all__ = ["ConnectionStats", "Recorder", "Tap"]
