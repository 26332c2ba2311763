"""The simulated venue's WebSocket side: registrations, acks, limits, streaming, faults.

Speaks LS_OPENAPI.md §2: one ``/websocket`` endpoint; each registration is a JSON
text frame ``{"header": {"token", "tr_type"}, "body": {"tr_cd", "tr_key"}}`` answered
by an ack with ``rsp_cd``/``rsp_msg`` and ``body: null`` (§2.4); data frames are
``{"header": {"tr_cd", "tr_key"}, "body": {...all strings...}}`` (§2.5).

Limits (``VenueLimits``) are enforced with a refusal ack, never by silent
acceptance: connections per app key (a connection belongs to the app key of the
first token it registers with), registrations per connection, registrations per
second per app key. LS's own refusal codes are not published (§7.4); the codes
below are this simulator's, and the client treats any code other than ``00000`` as
a refusal.

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
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from aiohttp import WSMsgType, web

from gatherer.clock import Clock
from gatherer.sim.market import MarketModel
from gatherer.sim.rest_api import BAD_TOKEN as BAD_TOKEN
from gatherer.sim.rest_api import RATE_LIMITED
from gatherer.sim.rest_api import UNKNOWN_TR as UNKNOWN_TR
from gatherer.sim.state import Faults, RatePacer, TokenRegistry, VenueLimits
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.keys import symbol_of

log = logging.getLogger(__name__)

OK = ("00000", "정상처리되었습니다")
# Refusal codes: the token, TR and rate codes are the REST side's (rest_api); the rest
# are this simulator's, as LS does not publish its own (LS_OPENAPI.md §7.4).
BAD_REQUEST = ("IGW40014", "요청 메시지 형식이 올바르지 않습니다.")
TOO_FAST = RATE_LIMITED
TOO_MANY_CONNECTIONS = ("IGW00301", "접속 가능한 세션 수를 초과하였습니다.")
TOO_MANY_REGISTRATIONS = ("IGW00302", "실시간 등록 가능 건수를 초과하였습니다.")
REFUSED = ("IGW00303", "실시간 등록이 거부되었습니다.")

_HIGH_WATER = 4 << 20


def ws_text_header(n: int) -> bytes:
    """The header of an unmasked, final text frame carrying ``n`` payload bytes (RFC 6455 §5.2)."""
    if n < 126:
        return bytes((0x81, n))
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big")
    return bytes((0x81, 127)) + n.to_bytes(8, "big")


SentHook = Callable[[str, bytes], None]
"""Called with (connection id, frame bytes) for every data frame the venue wrote."""


class _RegHeader(msgspec.Struct):
    token: str = ""
    tr_type: str = ""


class _RegBody(msgspec.Struct):
    tr_cd: str = ""
    tr_key: str = ""


class _Registration(msgspec.Struct):
    header: _RegHeader
    body: _RegBody


_reg_decoder = msgspec.json.Decoder(_Registration)
_encode = msgspec.json.Encoder().encode


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


@dataclass(eq=False)
class SimConnection:
    """One client connection as the venue sees it."""

    conn_id: str
    ws: web.WebSocketResponse
    request: web.Request
    appkey: str | None = None
    registrations: set[tuple[str, str]] = field(default_factory=set)
    stalled: bool = False
    frames_sent: int = 0
    outbox: list[bytes] = field(default_factory=list)


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
        # (tr_cd, symbol) -> {connection: tr_key}
        self._subscribers: dict[tuple[str, str], dict[SimConnection, str]] = {}
        # (market, symbol) -> subscribed TR codes
        self._wanted: dict[tuple[str, str], set[str]] = {}
        self._status_subscribers: dict[SimConnection, str] = {}
        self.frames_sent_total = 0
        self.skipped: list[tuple[str, str, int]] = []
        """Trade frames the ``skip`` fault kept from being sent: (tr_cd, tr_key, volume or totq)."""
        self.acks_total = 0
        self.refusals_total = 0
        self._subscribed = asyncio.Event()
        self._version = 0
        self.paused = False
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
        for tr_cd, key in list(conn.registrations):
            self._remove(conn, tr_cd, key)
        self._status_subscribers.pop(conn, None)

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
        if verdict is OK:
            if tr_type == "3":
                self._add(conn, tr_cd, tr_key)
            else:
                self._remove(conn, tr_cd, tr_key)
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
            return OK if (tr_cd, tr_key) in conn.registrations else BAD_REQUEST
        spec = CATALOG.get(tr_cd)
        if spec is None or tr_cd in self.stream.reject_trs:
            return UNKNOWN_TR
        try:
            symbol = symbol_of(tr_cd, tr_key)
        except ValueError:
            return BAD_REQUEST
        if (
            self.stream.strict_keys
            and spec.markets
            and not any(self.model.instrument(m, symbol) for m in spec.markets)
        ):
            return BAD_REQUEST
        if (tr_cd, tr_key) in conn.registrations:
            return OK
        if len(conn.registrations) >= self.limits.registrations_per_connection:
            return TOO_MANY_REGISTRATIONS
        if (tr_cd, symbol) in self.faults.refuse_only or self.faults.take("refuse_registrations"):
            return REFUSED
        return OK

    def _add(self, conn: SimConnection, tr_cd: str, tr_key: str) -> None:
        conn.registrations.add((tr_cd, tr_key))
        spec = CATALOG[tr_cd]
        if not spec.markets:
            self._status_subscribers[conn] = tr_key
            return
        symbol = symbol_of(tr_cd, tr_key)
        self._subscribers.setdefault((tr_cd, symbol), {})[conn] = tr_key
        self._version += 1
        for market in spec.markets:
            if self.model.instrument(market, symbol) is not None:
                self._wanted.setdefault((market, symbol), set()).add(tr_cd)
        self._subscribed.set()

    def _remove(self, conn: SimConnection, tr_cd: str, tr_key: str) -> None:
        conn.registrations.discard((tr_cd, tr_key))
        spec = CATALOG.get(tr_cd)
        if spec is None:
            return
        if not spec.markets:
            self._status_subscribers.pop(conn, None)
            return
        symbol = symbol_of(tr_cd, tr_key)
        subs = self._subscribers.get((tr_cd, symbol))
        if subs is None:
            return
        subs.pop(conn, None)
        self._version += 1
        if subs:
            return
        del self._subscribers[(tr_cd, symbol)]
        for market in spec.markets:
            wanted = self._wanted.get((market, symbol))
            if wanted is not None:
                wanted.discard(tr_cd)
                if not wanted:
                    del self._wanted[(market, symbol)]

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
                for conn, key in list(self._status_subscribers.items()):
                    self._queue(conn, tr_cd, key, body)
            if self.paused or not self._wanted or self.stream.rate_fps <= 0:
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
        if cached is not None and cached[0] == self._version and now_real - cached[1] < 0.25:
            return cached[2], cached[3]
        targets = list(self._wanted.items())
        # Activity per session group (a market, or an overseas product's exchange).
        model = self.model
        groups = {ms: model.group(*ms) for ms in self._wanted}
        activity = {g: model.activity(g, now_ns) for g in set(groups.values())}
        cum: list[float] = list(itertools.accumulate(activity[groups[ms]] for ms, _w in targets))
        self._target_cache = (self._version, now_real, targets, cum)
        return targets, cum

    async def _emit(self, budget: float, now_ns: int) -> float:
        """Spend up to ``budget`` frames on events of randomly chosen subscribed symbols."""
        targets, cum = self._targets(now_ns)
        if not targets or cum[-1] <= 0:
            return 0.0
        picks = self.rng.choices(targets, cum_weights=cum, k=max(1, int(budget)))
        for (market, symbol), wanted in picks:
            if budget < 1.0:
                break
            sent = False
            for tr_cd, body in self.model.events(market, symbol, now_ns, wanted):
                subs = self._subscribers.get((tr_cd, symbol))
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
            frame = self._malformed(tr_cd, tr_key, body)
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

    def _malformed(self, tr_cd: str, tr_key: str, body: dict[str, str]) -> bytes:
        whole = _encode({"header": {"tr_cd": tr_cd, "tr_key": tr_key}, "body": body})
        kind = self.rng.randrange(4)
        if kind == 0:
            return whole[: max(1, len(whole) // 2)]  # cut short
        if kind == 1:
            return _encode({"header": {"tr_cd": tr_cd, "tr_key": tr_key}, "body": "not an object"})
        if kind == 2:
            # A number that is not one, in a field the table says is numeric.
            broken = dict(body)
            fields = CATALOG[tr_cd].fields
            numeric = sorted(f.name for f in fields if f.kind in ("int", "dec") and f.name in body)
            broken[self.rng.choice(numeric) if numeric else self.rng.choice(sorted(broken))] = "12#4"
            return _encode({"header": {"tr_cd": tr_cd, "tr_key": tr_key}, "body": broken})
        return _encode({"body": body})  # no header

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

    async def wait_subscribed(self) -> None:
        await self._subscribed.wait()

    def registrations_total(self) -> int:
        return sum(len(c.registrations) for c in self.connections.values())
