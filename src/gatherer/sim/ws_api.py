"""The simulated venue's WebSocket side: registrations, acks, limits, streaming, faults.

Speaks LS_OPENAPI.md §2: one ``/websocket`` endpoint; each registration is a JSON
text frame ``{"header": {"token", "tr_type"}, "body": {"tr_cd", "tr_key"}}`` answered
by an ack with ``rsp_cd``/``rsp_msg`` and ``body: null`` (§2.4); data frames are
``{"header": {"tr_cd", "tr_key"}, "body": {...all strings...}}`` (§2.5).

Limits (``VenueLimits``) are enforced with a refusal ack, never by silent
acceptance: connections per app key (a connection belongs to the app key of the
first token it registers with), registrations per connection, registrations per
second per app key. The ack codes and the registration messages are in ``ws_protocol``.

Fault ``skip`` (``Faults.skip``): the next N trade frames of a TR (and key) are not sent to anyone;
their prints still happen in the model and are in the REST backfill history. ``WsHub.skipped``
lists each skipped frame as (tr_cd, tr_key, cumulative volume).

Streaming: one generator task asks the market model for events of subscribed
symbols at ``rate_fps`` (scaled by each market's intraday activity) and writes each
frame to every connection subscribed to that (TR, key). A slow connection slows the
generator (aiohttp's writer applies backpressure); nothing is buffered without bound.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from aiohttp import WSMsgType, web

from gatherer.clock import Clock
from gatherer.sim.market import MarketModel
from gatherer.sim.state import Faults, RatePacer, TokenRegistry, VenueLimits
from gatherer.sim.ws_protocol import (
    BAD_REQUEST,
    BAD_TOKEN,
    OK,
    REFUSED,
    SILENT,
    TOO_FAST,
    TOO_MANY_CONNECTIONS,
    TOO_MANY_REGISTRATIONS,
    UNKNOWN_TR,
    _encode,
    _reg_decoder,
    malformed_frame,
    ws_text_header,
)
from gatherer.sim.ws_subscriptions import SimConnection, Subscriptions
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.keys import symbol_of

log = logging.getLogger(__name__)

_HIGH_WATER = 4 << 20


SentHook = Callable[[str, bytes], None]
"""Called with (connection id, frame bytes) for every data frame the venue wrote."""


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How the simulated venue streams."""

    rate_fps: float = 2_000.0
    """Target data frames per second at activity 1.0 (midday); 0 stops streaming."""
    tick_s: float = 0.005
    """Generator step in real seconds."""
    reject_trs: frozenset[str] = frozenset()
    """TR codes answered with UNKNOWN_TR: {"FH9", "FC9"} plays a venue that has only the legacy codes."""
    strict_keys: bool = False
    """Refuse keys of unknown symbols. LS accepts them silently (LS_OPENAPI.md §2.3, US3): off by default."""


class WsHub:
    """Every WebSocket connection of the simulated venue, and the frame generator."""

    def __init__(
        self,
        *,
        tokens: TokenRegistry,
        limits: VenueLimits,
        faults: Faults,
        model: MarketModel,
        clock: Clock,
        rng: random.Random,
        stream: StreamSettings | None = None,
        on_sent: SentHook | None = None,
    ) -> None:
        self.tokens = tokens
        self.limits = limits
        self.faults = faults
        self.model = model
        self.clock = clock
        self.rng = rng
        self.stream = stream or StreamSettings()
        self._on_sent = on_sent
        self.connections: dict[str, SimConnection] = {}
        self._ids = itertools.count(1)
        self._pacers: dict[str, RatePacer] = {}
        self._subs = Subscriptions(model)
        self.frames_sent_total = 0
        self.skipped: list[tuple[str, str, int]] = []
        """Trade frames the ``skip`` fault kept from being sent: (tr_cd, tr_key, volume or totq)."""
        self.acks_total = 0
        self.refusals_total = 0
        self.paused = False
        self.opened: deque[tuple[str, int]] = deque(maxlen=10_000)
        """Connections accepted, (conn_id, venue time), the latest 10,000: when clients connected."""
        """While True the generator sends nothing (tests use it to let a client catch up)."""
        self._target_cache: tuple[int, float, list[tuple[tuple[str, str], set[str]]], list[float]] | None = (
            None
        )

    # -- connections -----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = SimConnection(conn_id=f"sim-{next(self._ids)}", ws=ws, request=request)
        self.connections[conn.conn_id] = conn
        self.opened.append((conn.conn_id, self.clock.time_ns()))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_request(conn, msg.data.encode())
                elif msg.type == WSMsgType.BINARY:
                    await self._on_request(conn, msg.data)
        finally:
            self._forget(conn)
        return ws

    def _forget(self, conn: SimConnection) -> None:
        self.connections.pop(conn.conn_id, None)
        self._subs.forget(conn)

    def connections_of(self, appkey: str) -> int:
        return sum(1 for c in self.connections.values() if c.appkey == appkey)

    # -- registrations -----------------------------------------------------------------

    async def _on_request(self, conn: SimConnection, data: bytes) -> None:
        try:
            reg = _reg_decoder.decode(data)
        except msgspec.DecodeError:
            await self._ack(conn, "", "", "", BAD_REQUEST)
            return
        tr_type, tr_cd, tr_key = reg.header.tr_type, reg.body.tr_cd, reg.body.tr_key
        verdict = self._judge(conn, reg.header.token, tr_type, tr_cd, tr_key)
        if verdict is SILENT:
            conn.silent.add((tr_cd, tr_key))  # acknowledged as accepted, never streamed
            verdict = OK
        elif verdict is OK and tr_type == "4" and (tr_cd, tr_key) in conn.silent:
            conn.silent.discard((tr_cd, tr_key))
        elif verdict is OK:
            if tr_type == "3":
                self._subs.add(conn, tr_cd, tr_key)
            else:
                self._subs.remove(conn, tr_cd, tr_key)
        await self._ack(conn, tr_cd, tr_key, tr_type, verdict)

    def _judge(
        self, conn: SimConnection, token: str, tr_type: str, tr_cd: str, tr_key: str
    ) -> tuple[str, str]:
        if tr_type not in ("3", "4") or not tr_cd:
            return BAD_REQUEST
        issued = self.tokens.check(token)
        if issued is None:
            return BAD_TOKEN
        if conn.appkey is None:
            if self.connections_of(issued.appkey) >= self.limits.connections_per_key:
                return TOO_MANY_CONNECTIONS
            conn.appkey = issued.appkey
        elif conn.appkey != issued.appkey:
            return BAD_TOKEN
        pacer = self._pacers.setdefault(issued.appkey, RatePacer(self.limits.registrations_per_s))
        if not pacer.allow(self.clock.monotonic()):
            return TOO_FAST
        if tr_type == "4":
            known = (tr_cd, tr_key) in conn.registrations or (tr_cd, tr_key) in conn.silent
            return OK if known else BAD_REQUEST
        spec = CATALOG.get(tr_cd)
        if spec is None or tr_cd in self.stream.reject_trs:
            return UNKNOWN_TR
        try:
            symbol = symbol_of(tr_cd, tr_key)
        except ValueError:
            # LS accepts a plain code on an NXT/통합 TR and never streams it (LS_OPENAPI.md §2.3).
            plain = len(tr_key) == 6 and tr_key.isascii() and tr_key.isalnum()
            if not (plain and spec.key_style in ("nxt10", "unified10")):
                return BAD_REQUEST
            symbol = ""
        if (
            symbol
            and self.stream.strict_keys
            and spec.markets
            and not any(self.model.instrument(m, symbol) for m in spec.markets)
        ):
            return BAD_REQUEST
        if (tr_cd, tr_key) in conn.registrations or (tr_cd, tr_key) in conn.silent:
            return OK
        if len(conn.registrations) >= self.limits.registrations_per_connection:
            return SILENT if self.limits.silent_past_limit else TOO_MANY_REGISTRATIONS
        if (tr_cd, symbol) in self.faults.refuse_only or self.faults.take("refuse_registrations"):
            return REFUSED
        return OK

    async def _ack(
        self, conn: SimConnection, tr_cd: str, tr_key: str, tr_type: str, verdict: tuple[str, str]
    ) -> None:
        header = {
            "tr_cd": tr_cd,
            "tr_key": tr_key,
            "tr_type": tr_type,
            "rsp_cd": verdict[0],
            "rsp_msg": verdict[1],
        }
        self.acks_total += 1
        if verdict is not OK:
            self.refusals_total += 1
        if not conn.ws.closed:
            await conn.ws.send_frame(_encode({"header": header, "body": None}), WSMsgType.TEXT)

    # -- streaming -----------------------------------------------------------------------

    async def run(self) -> None:
        """Generate and send frames until cancelled."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        budget = 0.0
        while True:
            await asyncio.sleep(self.stream.tick_s)
            now_real = loop.time()
            elapsed, last = now_real - last, now_real
            now_ns = self.clock.time_ns()
            for tr_cd, body in self.model.status_events(now_ns):
                for conn, key in list(self._subs.status.items()):
                    self._queue(conn, tr_cd, key, body)
            if self.paused or not self._subs.wanted or self.stream.rate_fps <= 0:
                budget = 0.0
                await self._flush()
                continue
            # At most 50 ms of frames per step, so that registrations and REST calls are served
            # between steps even when the requested rate is more than this machine can make.
            budget = min(budget + self.stream.rate_fps * elapsed, self.stream.rate_fps * 0.05)
            budget = await self._emit(budget, now_ns)

    def _targets(self, now_ns: int) -> tuple[list[tuple[tuple[str, str], set[str]]], list[float]]:
        """Subscribed (market, symbol) targets with cumulative activity weights, cached.

        Rebuilt when subscriptions change or every 0.25 s of real time (activity drifts
        slowly), so a 60,000-registration universe is not re-listed on every step.
        """
        now_real = self.clock.monotonic()
        cached = self._target_cache
        if cached is not None and cached[0] == self._subs.version and now_real - cached[1] < 0.25:
            return cached[2], cached[3]
        targets = list(self._subs.wanted.items())
        # Activity per session group (a market, or an overseas product's exchange).
        model = self.model
        groups = {ms: model.group(*ms, want, now_ns) for ms, want in self._subs.wanted.items()}
        activity = {g: model.activity(g, now_ns) for g in set(groups.values())}
        cum: list[float] = list(itertools.accumulate(activity[groups[ms]] for ms, _w in targets))
        self._target_cache = (self._subs.version, now_real, targets, cum)
        return targets, cum

    async def _emit(self, budget: float, now_ns: int) -> float:
        """Spend up to ``budget`` frames on events of randomly chosen subscribed symbols."""
        targets, cum = self._targets(now_ns)
        if not targets or cum[-1] <= 0:
            return 0.0
        picks = self.rng.choices(targets, cum_weights=cum, k=max(1, int(budget)))
        everyone = self._subs.everyone
        for (market, symbol), wanted in picks:
            if budget < 1.0:
                break
            sent = False
            for tr_cd, body in self.model.events(market, symbol, now_ns, wanted | everyone.keys()):
                subs = self._subs.by_key.get((tr_cd, symbol))
                if tr_cd in everyone:
                    subs = {**everyone[tr_cd], **(subs or {})}
                if not subs:
                    continue
                if self.faults.skip and self._skip(tr_cd, symbol, subs, body):
                    budget -= 1.0
                    sent = True
                    continue
                for conn, key in subs.items():
                    self._queue(conn, tr_cd, key, body)
                    budget -= 1.0
                    sent = True
            if not sent:
                # The event produced nothing subscribed (an auction-only TR, say): do not spin.
                budget -= 1.0
        await self._flush()
        return budget

    def _skip(self, tr_cd: str, symbol: str, subs: dict[SimConnection, str], body: dict[str, str]) -> bool:
        """Whether the ``skip`` fault takes this frame (trade TRs only); records what it took."""
        if CATALOG[tr_cd].channel != "trade" or not self.faults.take_skip(tr_cd, symbol):
            return False
        volume = body.get("volume") or body.get("totq") or "0"
        self.skipped.append((tr_cd, next(iter(subs.values())), int(volume)))
        return True

    def _queue(self, conn: SimConnection, tr_cd: str, tr_key: str, body: dict[str, str]) -> None:
        if conn.stalled or conn.ws.closed:
            return
        if self.faults.take("malformed_frames"):
            frame = malformed_frame(tr_cd, tr_key, body, self.rng)
        else:
            frame = _encode({"header": {"tr_cd": tr_cd, "tr_key": tr_key}, "body": body})
        conn.outbox.append(frame)

    async def _flush(self) -> None:
        """Write every connection's queued frames in one go, then wait for slow readers.

        Frames are framed here (server frames are unmasked, RFC 6455 §5.2) and written
        straight to the transport: one write per connection per step instead of one
        per frame. Acks go through aiohttp's writer on the same transport, so order
        on the wire is preserved. A reader that falls behind holds the generator back
        once its socket buffer passes ``_HIGH_WATER``: nothing piles up without bound.
        """
        slow: list[SimConnection] = []
        for conn in self.connections.values():
            if not conn.outbox:
                continue
            frames, conn.outbox = conn.outbox, []
            transport = conn.request.transport
            if transport is None or transport.is_closing():
                continue
            transport.write(b"".join(b for f in frames for b in (ws_text_header(len(f)), f)))
            conn.frames_sent += len(frames)
            self.frames_sent_total += len(frames)
            if self._on_sent is not None:
                for f in frames:
                    self._on_sent(conn.conn_id, f)
            if transport.get_write_buffer_size() > _HIGH_WATER:
                slow.append(conn)
        for conn in slow:
            transport = conn.request.transport
            while transport is not None and not transport.is_closing():
                if transport.get_write_buffer_size() <= _HIGH_WATER // 4:
                    break
                await asyncio.sleep(0.001)

    # -- faults ------------------------------------------------------------------------------

    def _pick(self, conn_id: str | None) -> list[SimConnection]:
        if conn_id is None:
            return list(self.connections.values())
        conn = self.connections.get(conn_id)
        return [conn] if conn is not None else []

    def drop(self, conn_id: str | None = None) -> int:
        """Cut connections without a WebSocket close, as a network failure would."""
        picked = self._pick(conn_id)
        for conn in picked:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        return len(picked)

    def stall(self, conn_id: str | None = None, stalled: bool = True) -> int:
        """Keep connections open but send them nothing (pings are still answered)."""
        picked = self._pick(conn_id)
        for conn in picked:
            conn.stalled = stalled
        return len(picked)

    def registrations_total(self) -> int:
        return sum(len(c.registrations) for c in self.connections.values())
