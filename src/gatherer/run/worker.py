"""A worker's connections: connect, register, journal every frame, reconnect.

Each connection task owns one ``Session``. Its receive path is one call: the frame's
bytes and receive time go into the journal (``Kind.FRAME``) before anything reads
them. When the journal is backlogged the connection stops reading from its socket
until the journal has caught up, so the venue's frames wait in TCP buffers instead of
in memory: nothing is dropped and nothing grows without bound.

Registrations are verified: each (TR, key) counts as active only once the venue has
acknowledged it. A refusal is journaled and reported, never assumed away; a refused
2026 futures code (``FH9``/``FC9``) is retried once with its legacy code. The venue counts
registration requests per app key (LS_OPENAPI.md §1.4, §2.7), so each app key has its own pace
(``run.pacing.KeyPace``): the connections of different keys register at the same time, each key at
``registrations_per_s``, and the connections of one key share that key's pace, one request every
``plan.pack.registration_interval_s``. ``plan.pack.key_registration_s`` is the same model, so
`gatherer plan` says how long this takes. A connection that drops reconnects with capped,
jittered exponential backoff for as long as the run lasts, and registers everything again,
busiest first: the receive path counts each stream's frames (``venues.ls.envelope.frame_stream``,
a bytes slice of the frame, no parse), and the key's pace gives its next slot to the waiting
registration whose stream delivered the most frames in this run; with no frames yet (a run's first
registration) the plan's order stands. Connection attempts of one app key take turns, ``reconnect_stagger_s``
apart, so a venue restart that drops them all does not bring them all back in the same instant.

Liveness (``run.liveness``): a connection silent for ``stall_s`` while one of its markets trades is
closed and reconnected; a quiet market is left alone.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from gatherer.capture import Journal, Kind, events
from gatherer.clock import Clock
from gatherer.errors import ConnectError, SessionLost
from gatherer.plan.pack import registration_burst, registration_interval_s
from gatherer.plan.select import Registration
from gatherer.run.liveness import Liveness
from gatherer.run.pacing import ConnectTurns, KeyPace, Stopping
from gatherer.run.recorder import ConnectionStats, Recorder
from gatherer.venues.ls.catalog import ALL_SYMBOLS, CATALOG, LEGACY
from gatherer.venues.ls.envelope import (
    SUBSCRIBE,
    registration_frame,
    stream_key,
)
from gatherer.venues.ls.hours import SessionWindows
from gatherer.venues.ls.ratelimit import backoff_s
from gatherer.venues.ls.retry import Next, after_ack
from gatherer.venues.ls.sessions import MarketStatus
from gatherer.venues.ls.ws import Ack, FrameSink, Session

log = logging.getLogger(__name__)

REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker connects and registers."""

    worker_id: str = "w00"
    registrations_per_s: float = 50.0
    """Registration requests per second of each app key (its connections share it); 0: unpaced."""
    ack_timeout_s: float = 10.0
    """A registration not answered within this is reported as unacknowledged."""
    reconnect_base_s: float = 0.5
    reconnect_cap_s: float = 30.0
    reconnect_stagger_s: float = 0.2
    """Connection attempts of one app key go one at a time, each starting at least this long after
    the previous one ended: enough to give every handshake (tens of ms to LS) its own moment, short
    enough that even ten connections of a key are back within two seconds, far under the time
    their registrations take at the key's pace."""
    registration_rounds: int = 5
    """How often a registration refused for the rate, or not answered, is sent again."""
    stall_s: float = 60.0
    """Silence after which a connection is stalled, counted only while one of its markets trades."""


TokenSource = Callable[[int], Awaitable[str]]
"""The current token of an app key (by its index); one token per key, shared by all its connections."""
TokenRefusedHook = Callable[[int, str], Awaitable[str]]
"""Told that the venue refused an app key's token (key index, that token), returns a newer one."""


class Worker:
    """Runs a worker's connections until ``stop`` is set."""

    def __init__(
        self,
        *,
        ws_url: str,
        token: TokenSource,
        journal: Journal,
        groups: Sequence[Sequence[Registration]],
        clock: Clock,
        settings: WorkerSettings,
        keys: Sequence[int] | None = None,
        rng: random.Random | None = None,
        sessions: SessionWindows | None = None,
        session_groups: Mapping[str, str] | None = None,
        on_token_refused: TokenRefusedHook | None = None,
    ) -> None:
        self._ws_url = ws_url
        self._token = token
        self._on_token_refused = on_token_refused
        self._held: dict[str, list[tuple[str, str]]] = {}
        """conn_id -> the (TR, key) pairs its current session has registered."""
        self._journal = journal
        self._groups = [list(g) for g in groups]
        self._clock = clock
        self._settings = settings
        self._rng = rng or random.Random()
        self._connect_turns = ConnectTurns(settings.reconnect_stagger_s)
        self.liveness = Liveness(
            settings.worker_id,
            clock,
            journal,
            settings.stall_s,
            sessions=sessions,
            session_groups=session_groups,
        )
        keys = list(keys) if keys is not None else [0] * len(self._groups)
        if len(keys) != len(self._groups):
            raise ValueError("one app key index per connection group")
        per_s = settings.registrations_per_s
        interval_s = registration_interval_s(per_s) if per_s > 0 else 0.0
        burst = registration_burst(per_s) if per_s > 0 else 1
        self._paces = {k: KeyPace(interval_s, burst) for k in sorted(set(keys))}
        self.stream_frames: dict[bytes, int] = {}
        """Data frames delivered in this run per stream (``venues.ls.envelope.stream_key``)."""
        self.stats = [
            ConnectionStats(f"{settings.worker_id}-c{i:03d}", len(g), key_index=k)
            for i, (g, k) in enumerate(zip(self._groups, keys, strict=True))
        ]

    def _stock_markets(self) -> None:
        """Journal the market of each code this worker records on a two-market feed (NXT, 통합):
        the store files their rows by it (``events.StockMarkets``)."""
        both: dict[str, set[str]] = {"kospi": set(), "kosdaq": set()}
        for group in self._groups:
            for r in group:
                if r.market in both and len(CATALOG[r.tr_cd].markets) > 1 and r.symbol != ALL_SYMBOLS:
                    both[r.market].add(r.symbol)
        if both["kospi"] or both["kosdaq"]:
            event = events.StockMarkets(kospi=sorted(both["kospi"]), kosdaq=sorted(both["kosdaq"]))
            self._event(self._settings.worker_id, event)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def journal(self) -> Journal:
        """The journal this worker appends to (the status file reads its durability figures)."""
        return self._journal

    @property
    def registrations(self) -> list[list[Registration]]:
        """Each connection's registrations, as planned (legacy fallbacks included as they happen)."""
        return self._groups

    async def run(self, stop: asyncio.Event) -> None:
        self._stock_markets()
        async with asyncio.TaskGroup() as tasks:
            for key, pace in self._paces.items():
                tasks.create_task(pace.drive(stop), name=f"{self._settings.worker_id}-pace-key{key}")
            for i, group in enumerate(self._groups):
                tasks.create_task(self._connection(self.stats[i], group, stop), name=self.stats[i].conn_id)

    # -- one connection ------------------------------------------------------------------

    def _event(self, conn_id: str, event: events.Event) -> None:
        self._journal.append(Kind.EVENT, conn_id, events.encode(event), self._clock.time_ns())

    async def _connection(
        self, stats: ConnectionStats, group: list[Registration], stop: asyncio.Event
    ) -> None:
        conn_id = stats.conn_id
        holds_jif = any(r.tr_cd == "JIF" for r in group)
        taps = [self.liveness.jif_tap] if holds_jif else []
        recorder = Recorder(self._journal, stats, self.stream_frames, taps)
        attempt = 0
        while not stop.is_set():
            session = recorder.session = await self._connect(stats, recorder, attempt, stop)
            if session is None:
                if stop.is_set():
                    break
                attempt += 1
                stats.state = "reconnecting"
                await self._pause(attempt, stop)
                continue
            reason = events.CLOSED_BY_US
            try:
                stats.state = "registering"
                await self._register(session, stats, group, stop)
                attempt = 0
                stats.state = "streaming"
                reason = await self._stream(session, stats, self.liveness.groups_of(group), stop)
            except SessionLost as exc:
                reason = str(exc)
            except Stopping:
                pass  # "closed by us"
            finally:
                if session.connected:
                    await session.close()
                self._event(conn_id, events.Disconnected(reason=reason))
                if holds_jif:
                    self.market_status.forget()  # transitions sent while we are away would be missed
            if not stop.is_set():
                stats.last_error = reason
                stats.state = "reconnecting"
                log.warning("connection lost; reconnecting", extra={"conn_id": conn_id, "reason": reason})
                attempt += 1
                await self._pause(attempt, stop)
        stats.state = "stopped"

    def update_sessions(self, windows: SessionWindows) -> None:
        """Newer windows from the supervisor (it computes them for a span of days, again at each
        cutoff); JIF's verdicts stay."""
        self.liveness.update_sessions(windows)

    @property
    def market_status(self) -> MarketStatus:
        """The session windows, corrected by what JIF said (when a connection holds JIF)."""
        return self.liveness.market_status

    async def _stream(
        self, session: Session, stats: ConnectionStats, markets: set[str], stop: asyncio.Event
    ) -> str:
        """Wait while the connection streams (``Liveness.watch``); returns why it ended."""
        conn_id = session.conn_id

        def new_day() -> None:
            # The new day's journal says what this connection holds: its registrations were sent
            # yesterday, and the day's ledger must know what an outage today cuts off.
            self._event(conn_id, events.Holding(registrations=self._held.get(conn_id, [])))
            if self.stats and conn_id == self.stats[0].conn_id:
                self._stock_markets()

        def stalled(silent_s: float) -> None:
            self._event(conn_id, events.Stalled(silent_s=round(silent_s, 1)))

        return await self.liveness.watch(session, stats, markets, stop, on_new_day=new_day, on_stall=stalled)

    async def _connect(
        self, stats: ConnectionStats, on_frame: FrameSink, attempt: int, stop: asyncio.Event
    ) -> Session | None:
        """Open the connection in its app key's turn; None if it failed, or stop came first."""
        conn_id = stats.conn_id
        async with self._connect_turns.turn(stats.key_index, stop) as go:
            if not go:
                return None
            try:
                session = await Session.connect(self._ws_url, conn_id, on_frame, clock=self._clock)
            except ConnectError as exc:
                stats.last_error = str(exc)
                self._event(conn_id, events.ConnectFailed(error=str(exc)))
                return None
            stats.connects += 1
            if stats.connects > 1:
                stats.reconnects += 1
            self._event(conn_id, events.Connected(url=self._ws_url, attempt=attempt))
            return session

    async def _pause(self, attempt: int, stop: asyncio.Event) -> None:
        delay = backoff_s(
            attempt,
            base_s=self._settings.reconnect_base_s,
            cap_s=self._settings.reconnect_cap_s,
            rnd=self._rng,
        )
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            pass

    async def _register(
        self, session: Session, stats: ConnectionStats, group: list[Registration], stop: asyncio.Event
    ) -> None:
        """Register the group, verifying every ack; busiest stream first (``stream_frames``), the
        plan's order among streams that delivered as many frames (a run's first registration).

        What each answer means is ``venues.ls.retry.after_ack``: refused for the rate (IGW00201) or
        not answered, sent again after a pause, for up to ``registration_rounds`` rounds; refused
        for the token, a new token is asked for (``on_token_refused``) and the refused ones are sent
        again with it; a 2026 futures code refused for another reason is tried once with its legacy
        code (FH9 -> FH0, FC9 -> FC0). The code the venue accepted is kept for reconnects.
        """
        token = await self._token(stats.key_index)
        stats.accepted = 0  # counts up as acks arrive (the status page's n of N); exact at the end
        acks: list[Ack | None] = [None] * len(group)
        original = list(group)
        pace = self._paces[stats.key_index]
        frames = self.stream_frames
        busy = [frames.get(stream_key(r.tr_cd, r.tr_key), 0) for r in group]
        todo = sorted(range(len(group)), key=lambda i: -busy[i])  # stable: the plan's order on ties
        for round_no in range(1, self._settings.registration_rounds + 1):
            results = await self._send(
                session, token, pace, [(group[i].tr_cd, group[i].tr_key, busy[i]) for i in todo], stats
            )
            retry: list[int] = []
            token_refused = False
            renewable = self._on_token_refused is not None
            for i, ack in zip(todo, results, strict=True):
                acks[i] = ack
                reg = group[i]
                rsp_cd, rsp_msg = (None, "") if ack is None else (ack.rsp_cd, ack.rsp_msg)
                step = after_ack(rsp_cd, rsp_msg, reg.tr_cd, can_renew_token=renewable)
                if step is Next.ACCEPTED and reg != original[i]:
                    fallback = events.LegacyFallback(tr_cd=original[i].tr_cd, to=reg.tr_cd)
                    self._event(session.conn_id, fallback)
                elif step is Next.REFUSED:
                    group[i] = original[i]  # a legacy code refused too: report the plan's code
                elif step is Next.LEGACY:
                    group[i] = Registration(reg.market, reg.channel, LEGACY[reg.tr_cd], reg.symbol)
                    retry.append(i)
                elif step is not Next.ACCEPTED:  # AGAIN, NEW_TOKEN
                    retry.append(i)
                    token_refused |= step is Next.NEW_TOKEN
            todo = retry
            if not todo or stop.is_set():
                break
            if token_refused and self._on_token_refused is not None:
                # Refused for the token before it expired (revoked, replaced): ask for a new one, once
                # for the round, and register again with it right away.
                self._event(session.conn_id, events.TokenRefused(key=stats.key_index))
                token = await self._on_token_refused(stats.key_index, token)
            elif round_no < self._settings.registration_rounds:
                await self._pause(round_no, stop)
        accepted = [a for a in acks if a is not None and a.accepted]
        self._held[session.conn_id] = [(a.tr_cd, a.tr_key) for a in accepted]
        refused = [a for a in acks if a is not None and not a.accepted]
        stats.accepted = len(accepted)
        stats.refused = len(refused)
        stats.unanswered = sum(1 for a in acks if a is None)
        for a in refused:
            self._event(
                session.conn_id,
                events.Refused(tr_cd=a.tr_cd, tr_key=a.tr_key, rsp_cd=a.rsp_cd, rsp_msg=a.rsp_msg),
            )
        stats.refusals = [(a.tr_cd, a.tr_key, a.rsp_cd, a.rsp_msg) for a in refused][-100:]
        if refused or stats.unanswered:
            codes = Counter(f"{a.rsp_cd} {a.rsp_msg}" for a in refused)
            log.error(
                "%s: %d registration(s) refused (%s), %d unanswered; they are not recorded",
                session.conn_id,
                len(refused),
                ", ".join(f"{c} x{n}" for c, n in codes.items()) or "none",
                stats.unanswered,
            )
        done = events.Registered(accepted=stats.accepted, refused=len(refused), unanswered=stats.unanswered)
        self._event(session.conn_id, done)

    async def _send(
        self,
        session: Session,
        token: str,
        pace: KeyPace,
        todo: list[tuple[str, str, int]],
        stats: ConnectionStats,
    ) -> list[Ack | None]:
        """Send registrations one by one, each in a slot of the key's pace (asked for with its
        stream's frames); None where no ack came in time. Raises Stopping if stop comes first,
        SessionLost if the connection drops."""
        pending: list[asyncio.Future[Ack]] = []
        try:
            for tr_cd, tr_key, frames in todo:
                if not await pace.turn(frames):
                    raise Stopping
                if not session.connected:
                    raise SessionLost(f"{session.conn_id}: connection lost while registering")
                self._journal.append(
                    Kind.SENT,
                    session.conn_id,
                    registration_frame(REDACTED, SUBSCRIBE, tr_cd, tr_key),
                    self._clock.time_ns(),
                )
                pending.append(session.send_registration(token, SUBSCRIBE, tr_cd, tr_key))
                pending[-1].add_done_callback(functools.partial(_count_accepted, stats))
            return await self._acks(session, pending, [(tr_cd, tr_key) for tr_cd, tr_key, _ in todo])
        finally:
            for fut in pending:
                if not fut.done():
                    session.abandon(fut)
                elif not fut.cancelled():
                    fut.exception()  # a drop failed them all; SessionLost is already on its way up

    async def _acks(
        self, session: Session, pending: list[asyncio.Future[Ack]], pairs: list[tuple[str, str]]
    ) -> list[Ack | None]:
        loop = asyncio.get_running_loop()
        out: list[Ack | None] = []
        deadline = loop.time() + self._settings.ack_timeout_s
        for fut, (tr_cd, tr_key) in zip(pending, pairs, strict=True):
            try:
                out.append(await asyncio.wait_for(asyncio.shield(fut), max(0.0, deadline - loop.time())))
            except TimeoutError:
                session.abandon(fut)
                self._event(session.conn_id, events.Unacknowledged(tr_cd=tr_cd, tr_key=tr_key))
                out.append(None)
        return out


def _count_accepted(stats: ConnectionStats, fut: asyncio.Future[Ack]) -> None:
    """One more acknowledged registration, as its ack arrives (``_register`` sets the exact count)."""
    if not fut.cancelled() and fut.exception() is None and fut.result().accepted:
        stats.accepted += 1
