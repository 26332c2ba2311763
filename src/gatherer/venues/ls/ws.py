"""One WebSocket session with the LS Open API (LS_OPENAPI.md §2).

A ``Session`` owns one connection. Every frame it receives is stamped with its
receive time (UTC ns, taken once) and handed, as the raw bytes, to the ``on_frame``
callback *before* anything looks inside it: the capture stage records raw first.
Only then does the session check whether the frame is a registration
acknowledgement (its header has ``rsp_cd``; data frames never do, §2.4) and, if so,
resolve the waiting ``subscribe`` call.

The session never parses data frames and never drops one. It does not reconnect:
that is the owner's decision (a reconnect must resubscribe everything, §2.6).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from picows import WSError as _PicowsError
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from gatherer.clock import Clock, SystemClock
from gatherer.errors import ConnectError, SessionLost, SubscriptionRefused
from gatherer.venues.ls.envelope import (
    OK_CODE,
    SUBSCRIBE,
    UNSUBSCRIBE,
    match_compact_data,
    maybe_ack,
    registration_frame,
)

log = logging.getLogger(__name__)


FrameSink = Callable[[bytes, int], object]
"""Called with (frame bytes, recv_ns) for every text/binary message received. It may return True
to say the frame is data (``envelope.match_compact_data`` matched it), which spares the session
looking for an acknowledgement in it; any other value leaves that to the session."""

# Looked up once: reading a member off an IntEnum class costs more than comparing with it.
_TEXT, _BINARY, _CONTINUATION = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION
_CLOSE, _PING = WSMsgType.CLOSE, WSMsgType.PING


@dataclass(frozen=True, slots=True)
class Ack:
    """The venue's answer to one registration request."""

    tr_cd: str
    tr_key: str
    tr_type: str
    rsp_cd: str
    rsp_msg: str
    recv_ns: int

    @property
    def accepted(self) -> bool:
        return self.rsp_cd == OK_CODE


def parse_ack(payload: bytes, recv_ns: int) -> Ack | None:
    """The acknowledgement in a frame, or None if the frame is data (or not JSON)."""
    h = maybe_ack(payload)
    if h is None or h.rsp_cd is None:
        return None
    return Ack(h.tr_cd or "", h.tr_key or "", h.tr_type or "", h.rsp_cd, h.rsp_msg or "", recv_ns)


class _Listener(WSListener):
    """picows callbacks: stamp, hand over raw bytes, then look for acks."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._deliver = session._deliver
        self._time_ns = session._time_ns
        self._on_frame = session._on_frame
        self._parts: list[bytes] = []

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._session._transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == _TEXT and frame.fin:
            # Nearly every frame: Session._deliver written out here, one Python call less per frame.
            payload = frame.get_payload_as_bytes()
            recv_ns = self._time_ns()
            session = self._session
            session.frames_total += 1
            if self._on_frame(payload, recv_ns) is not True and match_compact_data(payload) is None:
                session._ack_in(payload, recv_ns)
        elif msg_type == _TEXT or msg_type == _BINARY:
            if frame.fin:
                self._deliver(frame.get_payload_as_bytes())
            else:
                self._parts = [frame.get_payload_as_bytes()]
        elif msg_type == _CONTINUATION:
            # LS sends whole messages, but a fragmented one must still arrive whole.
            self._parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                payload, self._parts = b"".join(self._parts), []
                self._deliver(payload)
        elif msg_type == _CLOSE:
            self._session._close_reason = f"venue closed the connection (code {frame.get_close_code()})"
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif msg_type == _PING:
            transport.send_pong(frame.get_payload_as_bytes())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._session._on_disconnected()


class Session:
    """One WebSocket connection: registrations with verified acks, raw frames out."""

    def __init__(self, url: str, conn_id: str, on_frame: FrameSink, clock: Clock | None = None) -> None:
        self.url = url
        self.conn_id = conn_id
        self._on_frame = on_frame
        self._clock = clock or SystemClock()
        self._time_ns = self._clock.time_ns
        self._transport: WSTransport | None = None
        self._pending: dict[tuple[str, str], deque[asyncio.Future[Ack]]] = {}
        self._pending_by_tr: dict[str, deque[tuple[str, asyncio.Future[Ack]]]] = {}
        self._closed: asyncio.Future[str] | None = None
        self._close_reason = "connection lost"
        self.frames_total = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        conn_id: str,
        on_frame: FrameSink,
        *,
        clock: Clock | None = None,
        timeout_s: float = 10.0,
        ping_idle_s: float = 30.0,
    ) -> Session:
        """Open the connection; raises ConnectError with the URL and cause."""
        session = cls(url, conn_id, on_frame, clock)
        session._closed = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(
                ws_connect(
                    lambda: _Listener(session),
                    url,
                    websocket_handshake_timeout=timeout_s,
                    enable_auto_ping=True,
                    auto_ping_idle_timeout=ping_idle_s,
                    auto_ping_reply_timeout=ping_idle_s,
                ),
                timeout_s,
            )
        except (OSError, TimeoutError, _PicowsError) as exc:
            raise ConnectError(f"cannot open WebSocket {url}: {exc or type(exc).__name__}") from exc
        log.info("connected", extra={"conn_id": conn_id, "url": url})
        return session

    # -- receive path -------------------------------------------------------------

    def _deliver(self, payload: bytes) -> None:
        recv_ns = self._time_ns()
        self.frames_total += 1
        # A data frame in LS's layout is told apart by one match (the sink's, or ours); anything
        # else is looked into. (_Listener.on_ws_frame does the same for whole text messages.)
        if self._on_frame(payload, recv_ns) is not True and match_compact_data(payload) is None:
            self._ack_in(payload, recv_ns)

    def _ack_in(self, payload: bytes, recv_ns: int) -> None:
        ack = parse_ack(payload, recv_ns)
        if ack is not None:
            self._resolve(ack)

    def _resolve(self, ack: Ack) -> None:
        waiters = self._pending.get((ack.tr_cd, ack.tr_key))
        if waiters:
            fut = waiters.popleft()
            by_tr = self._pending_by_tr.get(ack.tr_cd)
            if by_tr:
                for i, (_, f) in enumerate(by_tr):
                    if f is fut:
                        del by_tr[i]
                        break
        else:
            # Some acks carry no (or a differently padded) tr_key: answer the oldest
            # pending registration of that TR.
            by_tr = self._pending_by_tr.get(ack.tr_cd)
            if not by_tr:
                log.warning("unexpected acknowledgement", extra={"conn_id": self.conn_id, "tr_cd": ack.tr_cd})
                return
            key, fut = by_tr.popleft()
            self._pending[(ack.tr_cd, key)].remove(fut)
        if not fut.done():
            fut.set_result(ack)

    def _on_disconnected(self) -> None:
        self._transport = None
        lost = SessionLost(f"{self.conn_id}: {self._close_reason}")
        for waiters in self._pending.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(lost)
        self._pending.clear()
        self._pending_by_tr.clear()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(self._close_reason)
        log.info("disconnected", extra={"conn_id": self.conn_id, "reason": self._close_reason})

    # -- registrations -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None

    def pause_reading(self) -> None:
        """Stop reading from the socket (the venue's frames wait in TCP buffers)."""
        if self._transport is not None:
            self._transport.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None:
            self._transport.underlying_transport.resume_reading()

    def send_registration(self, token: str, tr_type: str, tr_cd: str, tr_key: str) -> asyncio.Future[Ack]:
        """Send one (un)registration now; the future resolves with its ack."""
        if self._transport is None:
            raise SessionLost(f"{self.conn_id}: not connected")
        fut: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending.setdefault((tr_cd, tr_key), deque()).append(fut)
        self._pending_by_tr.setdefault(tr_cd, deque()).append((tr_key, fut))
        self._transport.send(WSMsgType.TEXT, registration_frame(token, tr_type, tr_cd, tr_key))
        return fut

    async def subscribe(
        self, token: str, tr_cd: str, tr_key: str, *, timeout_s: float = 10.0, check: bool = False
    ) -> Ack:
        """Register (tr_type 3) and wait for the venue's answer.

        With ``check=True`` a refusal raises SubscriptionRefused. No answer within
        ``timeout_s`` raises TimeoutError: an unacknowledged registration is never
        assumed to be active.
        """
        ack = await self._await_ack(self.send_registration(token, SUBSCRIBE, tr_cd, tr_key), timeout_s)
        if check and not ack.accepted:
            raise SubscriptionRefused(tr_cd, tr_key, ack.rsp_cd, ack.rsp_msg)
        return ack

    async def unsubscribe(self, token: str, tr_cd: str, tr_key: str, *, timeout_s: float = 10.0) -> Ack:
        """Unregister (tr_type 4) with the exact tr_key used to register."""
        return await self._await_ack(self.send_registration(token, UNSUBSCRIBE, tr_cd, tr_key), timeout_s)

    async def subscribe_many(
        self,
        token: str,
        pairs: Iterable[tuple[str, str]],
        *,
        per_s: float = 50.0,
        window: int = 50,
        timeout_s: float = 10.0,
    ) -> list[Ack]:
        """Register many (tr_cd, tr_key) pairs, paced at ``per_s``, at most ``window`` unanswered.

        Returns one Ack per pair, in order; refusals are returned, not raised.
        """
        interval = 1.0 / per_s if per_s > 0 else 0.0
        inflight: asyncio.Semaphore = asyncio.Semaphore(window)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        waits: list[asyncio.Task[Ack]] = []

        async def wait_one(fut: asyncio.Future[Ack]) -> Ack:
            try:
                return await self._await_ack(fut, timeout_s)
            finally:
                inflight.release()

        try:
            for tr_cd, tr_key in pairs:
                await inflight.acquire()
                delay = next_at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at = max(next_at, loop.time()) + interval
                fut = self.send_registration(token, SUBSCRIBE, tr_cd, tr_key)
                waits.append(asyncio.create_task(wait_one(fut)))
            return list(await asyncio.gather(*waits))
        finally:
            for task in waits:
                task.cancel()

    async def _await_ack(self, fut: asyncio.Future[Ack], timeout_s: float) -> Ack:
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout_s)
        except TimeoutError:
            self.abandon(fut)
            raise

    def abandon(self, fut: asyncio.Future[Ack]) -> None:
        """Stop waiting for the ack of a registration (after a timeout); a late ack is then unexpected."""
        for key, waiters in list(self._pending.items()):
            if fut in waiters:
                waiters.remove(fut)
                by_tr = self._pending_by_tr.get(key[0], deque())
                for i, (_, f) in enumerate(by_tr):
                    if f is fut:
                        del by_tr[i]
                        break
                return

    # -- lifecycle -------------------------------------------------------------------

    async def wait_closed(self) -> str:
        """Wait until the connection ends; returns why."""
        assert self._closed is not None
        return await asyncio.shield(self._closed)

    async def close(self) -> None:
        transport = self._transport
        if transport is not None:
            self._close_reason = "closed by us"
            transport.send_close()
            transport.disconnect()
            await transport.wait_disconnected()
