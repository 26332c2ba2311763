"""bench/producer: an LS WebSocket feed faster than the collector, for bench/capture.py.

A child process (``python -m bench.producer``) that speaks just enough of the LS protocol
(LS_OPENAPI.md §2) for a worker: WebSocket at ``/websocket`` on 127.0.0.1, an ``00000`` ack for
every registration request, then data frames until the client goes away. The frames are built
once at start from the simulator's market model (``bench.store.make_frames``) and encoded once as
wire bytes (unmasked final text frames, RFC 6455 §5.2); serving is writing slices of that buffer,
so this process spends next to nothing per frame and the client is what limits the rate. The same
frames go round and round; nothing is re-stamped.

Writes respect the transport's buffer: past its high-water mark the connection stops writing until
the transport says it has drained, so a slow client costs this process at most one buffer per
connection. ``rate`` (frames/s, all connections together; 0 for as fast as they read) is a token
bucket with at most ``_BURST_S`` of credit.

Protocol with the parent: the child prints ``ws_url=...`` once it listens, reads commands from its
standard input (``rate <frames/s>``), and stops when that input closes or after ``--seconds``,
whichever comes first; on the way out it prints ``sent_frames=...``. It must never listen beyond
127.0.0.1 nor outlive its deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import msgspec
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

from bench.store import make_frames
from gatherer.sim.ws_protocol import ws_text_header

HIGH_WATER_BYTES = 1024 * 1024
LOW_WATER_BYTES = 256 * 1024
CHUNK_FRAMES = 32
"""Frames per transport write when the rate is not limited."""
_WRITES_PER_TURN = 16
"""Writes before a connection yields the loop to the others (and to reads)."""
_BURST_S = 0.01
"""Most credit the rate limit keeps for a connection that was paused: 10 ms of frames."""


class _Reg(msgspec.Struct):
    class Header(msgspec.Struct):
        token: str = ""
        tr_type: str = ""

    class Body(msgspec.Struct):
        tr_cd: str = ""
        tr_key: str = ""

    header: Header
    body: Body


_decode_reg = msgspec.json.Decoder(_Reg).decode
_encode = msgspec.json.Encoder().encode


class Feed:
    """The wire bytes of ``n`` frames, twice over, so that any run of up to ``n`` frames from any
    position is one slice."""

    def __init__(self, payloads: list[bytes]) -> None:
        wire = [ws_text_header(len(p)) + p for p in payloads]
        self.n = len(wire)
        self.offsets = [0]
        for w in wire + wire:
            self.offsets.append(self.offsets[-1] + len(w))
        self.blob = b"".join(wire + wire)

    def take(self, pos: int, count: int) -> tuple[bytes, int]:
        """``count`` (≤ n) frames from ``pos``; returns their bytes and the next position."""
        end = pos + count
        data = self.blob[self.offsets[pos] : self.offsets[end]]
        return data, end % self.n


class Budget:
    """Frames all connections may send now: everything (``rate`` 0) or a token bucket."""

    def __init__(self) -> None:
        self.rate = 0.0
        self.sent = 0
        self._credit = 0.0
        self._at = time.monotonic()

    def set_rate(self, rate: float) -> None:
        self.rate, self._credit, self._at = rate, 0.0, time.monotonic()

    def grant(self, want: int) -> int:
        if self.rate <= 0:
            self.sent += want
            return want
        now = time.monotonic()
        self._credit = min(self._credit + (now - self._at) * self.rate, max(1.0, self.rate * _BURST_S))
        self._at = now
        n = min(want, int(self._credit))
        self._credit -= n
        self.sent += n
        return n

    def wait_s(self) -> float:
        """How long until a whole chunk may go, at least 1 ms: at a set rate frames leave in
        bursts of up to 1 ms, so that waking up and writing stay cheap next to the client."""
        return max(0.001, (CHUNK_FRAMES - self._credit) / self.rate) if self.rate > 0 else 0.0


class _Connection(WSListener):
    """One client: ack its registrations, and from the first one on, write frames while it reads."""

    def __init__(self, feed: Feed, budget: Budget, pos: int) -> None:
        self._feed = feed
        self._budget = budget
        self._pos = pos
        self._transport: WSTransport | None = None
        self._streaming = False
        self._paused = False
        self._scheduled = False

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        transport.underlying_transport.set_write_buffer_limits(high=HIGH_WATER_BYTES, low=LOW_WATER_BYTES)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            try:
                reg = _decode_reg(frame.get_payload_as_bytes())
            except msgspec.DecodeError:
                return  # not a registration: LS would answer with an error frame; the bench never sends one
            header = {"tr_cd": reg.body.tr_cd, "tr_key": reg.body.tr_key, "tr_type": reg.header.tr_type}
            ack = {"header": {**header, "rsp_cd": "00000", "rsp_msg": "ok"}, "body": None}
            transport.send(WSMsgType.TEXT, _encode(ack))
            if not self._streaming:
                self._streaming = True
                self._schedule(0.0)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._schedule(0.0)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._transport = None

    def _schedule(self, delay_s: float) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(delay_s, self._pump)

    def _pump(self) -> None:
        self._scheduled = False
        t = self._transport
        if t is None or self._paused or t.is_close_frame_sent:
            return
        write = t.underlying_transport.write
        for _ in range(_WRITES_PER_TURN):
            n = self._budget.grant(CHUNK_FRAMES)
            if n == 0:
                self._schedule(self._budget.wait_s())
                return
            data, self._pos = self._feed.take(self._pos, n)
            write(data)  # whole frames only: acks sent in between keep the framing intact
            if self._paused:
                return  # resume_writing schedules the next turn
        self._schedule(0.0)


async def _commands(budget: Budget, done: asyncio.Event) -> None:
    """Read ``rate <frames/s>`` lines from standard input; set ``done`` when it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            word, _, value = line.decode().partition(" ")
            if word == "rate":
                budget.set_rate(float(value))
    finally:
        done.set()


async def serve(seconds: float, n_frames: int, rate: float) -> None:
    feed = Feed([p for _, p in make_frames(n_frames)])
    budget = Budget()
    budget.set_rate(rate)
    conns = [0]

    def factory(request: WSUpgradeRequest) -> WSListener | None:
        if request.path != b"/websocket":
            return None
        conns[0] += 1
        return _Connection(feed, budget, (conns[0] * 7919) % feed.n)  # each connection its own phase

    server = await ws_create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"ws_url=ws://127.0.0.1:{port}/websocket", flush=True)
    done = asyncio.Event()
    reader = asyncio.create_task(_commands(budget, done))
    try:
        await asyncio.wait_for(done.wait(), seconds)
    except TimeoutError:
        pass
    finally:
        reader.cancel()
        server.close()
        print(f"sent_frames={budget.sent}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="stop after this long at the latest")
    ap.add_argument("--frames", type=int, default=5000, help="distinct frames to build and cycle")
    ap.add_argument("--rate", type=float, default=0.0, help="frames/s over all connections; 0: unlimited")
    a = ap.parse_args()
    uvloop.run(serve(a.seconds, a.frames, a.rate))


if __name__ == "__main__":
    main()
