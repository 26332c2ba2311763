"""Liveness: is a silent connection stalled, or is its market just quiet?

A connection silent for ``stall_s`` while one of its session groups trades is closed and
reconnected. A group is a KRX market or an overseas exchange (``venues.ls.hours``); whether it
trades comes from the session windows the supervisor computed (plain data, looked up by bisection:
no calendar is built here), corrected by the venue's own market-status feed (JIF) when the worker
has it registered (``venues.ls.sessions.MarketStatus``): a market JIF says is in an auction, halted
or closed is quiet even if the windows say open, one it says trades is watched even if they say
closed. The JIF tap sees only the frames of the connection holding JIF, and looks for the bytes
``"JIF"`` before it parses anything: the receive path stays raw-first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from gatherer.capture import Journal, events
from gatherer.clock import Clock, trading_day_of
from gatherer.plan.select import Registration
from gatherer.run.recorder import ConnectionStats
from gatherer.venues.ls.hours import SessionWindows, group_of
from gatherer.venues.ls.night import NIGHT_TRS
from gatherer.venues.ls.sessions import MarketStatus, read_jif
from gatherer.venues.ls.ws import Session

log = logging.getLogger(__name__)

_JIF_TAG = b'"JIF"'


class Liveness:
    """One worker's stall watchdog and its market-status picture."""

    def __init__(
        self,
        worker_id: str,
        clock: Clock,
        journal: Journal,
        stall_s: float,
        *,
        sessions: SessionWindows | None = None,
        session_groups: Mapping[str, str] | None = None,
    ) -> None:
        self._worker_id = worker_id
        self._clock = clock
        self._journal = journal
        self._stall_s = stall_s
        self.market_status = MarketStatus(sessions)
        """The session windows, corrected by what JIF said (when a connection holds JIF)."""
        self._session_groups = dict(session_groups or {})
        """Overseas symbol -> its exchange's session group (``hours.group_of``)."""
        self._uncovered_warned = False

    def groups_of(self, group: Sequence[Registration]) -> set[str]:
        """The session groups a connection's registrations trade in (JIF's ``all`` is none)."""
        found = {
            "knight" if r.tr_cd in NIGHT_TRS else group_of(r.market, r.symbol, self._session_groups)
            for r in group
        }
        return {g for g in found if g is not None}

    def update_sessions(self, windows: SessionWindows) -> None:
        """Newer windows from the supervisor (it computes them for a span of days, again at each
        cutoff); JIF's verdicts stay."""
        self.market_status.windows = windows
        self._uncovered_warned = False

    async def watch(
        self,
        session: Session,
        stats: ConnectionStats,
        markets: set[str],
        stop: asyncio.Event,
        *,
        on_new_day: Callable[[], None],
        on_stall: Callable[[float], None],
    ) -> str:
        """Wait while the connection streams; returns why it ended (``events.CLOSED_BY_US`` on stop).

        Every quarter of ``stall_s`` (at most a second) the silence is checked; silence longer than
        ``stall_s`` while one of its groups trades (``MarketStatus``: JIF, else the windows) is a
        stall: the connection is closed and the caller reconnects. Silence counts only while a
        market trades and the journal is not holding the connections back (a backlog pauses
        reading on purpose), so quiet markets are left alone and a market that just opened gets
        ``stall_s`` for its first frame.
        """
        stall_ns = int(self._stall_s * 1e9)
        counting_since: int | None = None
        stats.last_recv_ns = max(stats.last_recv_ns, self._clock.time_ns())
        day = trading_day_of(self._clock.time_ns())
        closed = asyncio.ensure_future(session.wait_closed())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {closed, stopping},
                    # At least every second (real time): cheap, and right under a compressed clock too.
                    timeout=min(self._stall_s / 4, 1.0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if closed in done:
                    return closed.result()
                if stopping in done:
                    return events.CLOSED_BY_US
                stats.liveness_checks += 1
                now = self._clock.time_ns()
                if trading_day_of(now) != day:
                    day = trading_day_of(now)
                    on_new_day()
                if not self._uncovered_warned and not self.market_status.covers(now):
                    self._uncovered_warned = True
                    log.warning(
                        "%s: no session windows for now; every connection is watched as if its market"
                        " traded until the supervisor sends new ones",
                        self._worker_id,
                    )
                if self._journal.backlogged or not self.market_status.any_open(markets, now):
                    counting_since = None
                    continue
                if counting_since is None:
                    counting_since = now
                silent_ns = now - max(stats.last_recv_ns, counting_since)
                if silent_ns > stall_ns:
                    stats.stalls += 1
                    trading = ", ".join(sorted(markets))
                    reason = f"stalled: no data for {silent_ns / 1e9:.0f} s while {trading} traded"
                    on_stall(silent_ns / 1e9)
                    await session.close()
                    return reason
        finally:
            stopping.cancel()
            closed.cancel()

    def jif_tap(self, payload: bytes, recv_ns: int) -> None:
        """The market-status tap of the connection that holds JIF (``venues.ls.sessions``)."""
        if _JIF_TAG not in payload:
            return
        codes = read_jif(payload)
        if codes is None:
            return
        markets = self.market_status.note_jif(*codes, recv_ns)
        if markets:
            log.info(
                "JIF jangubun %s jstatus %s: %s %s",
                *codes,
                "/".join(markets),
                self.market_status.said(markets[0], recv_ns),
            )


__all__ = ["Liveness"]
