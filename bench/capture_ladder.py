"""bench/capture_ladder: where the worker's receive loop spends its time, rung by rung, in one run.

``bench.capture`` runs these clients in turn on one ``bench.producer`` (a feed faster than any of
them), each on the same connections and registrations, and prints their frames/s as a share of the
first one's. Rungs 1-5 are small picows clients, each doing what the one before did plus one step
of the worker's receive path, written flat (no call layers): the step's cost is the difference.
Rungs 6-8 are the worker itself (``gatherer.run.worker.Worker``: Session -> Recorder ->
Journal.append, and the journal's flusher thread), with its journal's thread doing less:
- 6: the flusher thread neither compresses nor writes (its compressor passes bytes through, its
  file operations discard them): the receive loop as `gatherer run` runs it, alone;
- 7: it compresses with the journal's own zstd compressor (``SegmentWriter``), writes nothing;
- 8: the real thing: zstd, write, fsync.
The steps use the journal's and the envelope's own objects (record header struct, CRC, the compact
data-frame match); only their sequence is written out here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import cast

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.common import cpu_s, thread_cpu_s
from gatherer.capture import Journal, JournalSettings
from gatherer.capture.journal import _RECORD_HEAD, _crc
from gatherer.capture.writer import FileOps
from gatherer.clock import Clock, SystemClock
from gatherer.plan.select import Registration
from gatherer.venues.ls.envelope import (
    SUBSCRIBE,
    frame_stream,
    match_compact_data,
    maybe_ack,
    registration_frame,
)

_TEXT, _PING, _CLOSE = WSMsgType.TEXT, WSMsgType.PING, WSMsgType.CLOSE
_BLOCK = 1024 * 1024  # the journal's block size: a buffer is started afresh once it holds this much
_CID = b"w00-c000"
_pack = _RECORD_HEAD.pack

WorkerRun = Callable[..., Awaitable[dict[str, float]]]
"""bench.capture.worker_run: one pass of the real worker, its journal thread as the mode says."""


class Counter(WSListener):
    """Rung 1, the bare client: counts messages and payload bytes, looks at nothing."""

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == _TEXT:
            self.frames += 1
            self.bytes += frame.payload_size
        else:
            self.other(transport, frame)

    def other(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == _PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == _CLOSE:
            transport.disconnect()


class Stamped(Counter):
    """Rung 2: + the payload as bytes (a copy out of picows' buffer) and the receive timestamp."""

    def __init__(self) -> None:
        super().__init__()
        self.time_ns = SystemClock().time_ns
        self.last_ns = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == _TEXT:
            payload = frame.get_payload_as_bytes()
            self.last_ns = self.time_ns()
            self.frames += 1
            self.bytes += len(payload)
        else:
            self.other(transport, frame)


class Buffered(Stamped):
    """Rung 3: + the payload appended to a bytearray (a fresh one per 1 MiB, as the journal's blocks)."""

    def __init__(self) -> None:
        super().__init__()
        self.buf = bytearray()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == _TEXT:
            payload = frame.get_payload_as_bytes()
            self.last_ns = self.time_ns()
            self.frames += 1
            self.bytes += len(payload)
            buf = self.buf
            buf += payload
            if len(buf) >= _BLOCK:
                self.buf = bytearray()
        else:
            self.other(transport, frame)


class Framed(Buffered):
    """Rung 4: + the journal's record framing: its header struct with the payload's CRC-32C, the
    connection id, then the payload (what ``Journal.append`` writes)."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == _TEXT:
            payload = frame.get_payload_as_bytes()
            recv_ns = self.last_ns = self.time_ns()
            self.frames += 1
            self.bytes += len(payload)
            buf = self.buf
            buf += _pack(1, len(_CID), len(payload), recv_ns, _crc(payload))
            buf += _CID
            buf += payload
            if len(buf) >= _BLOCK:
                self.buf = bytearray()
        else:
            self.other(transport, frame)


class Counted(Framed):
    """Rung 5: + the per-stream count (a dict keyed by the envelope's stream slice) and the ack
    check (a frame that is not in LS's compact data layout is looked into for ``rsp_cd``)."""

    def __init__(self) -> None:
        super().__init__()
        self.streams: dict[bytes, int] = {}
        self.acks = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == _TEXT:
            payload = frame.get_payload_as_bytes()
            recv_ns = self.last_ns = self.time_ns()
            self.frames += 1
            self.bytes += len(payload)
            buf = self.buf
            buf += _pack(1, len(_CID), len(payload), recv_ns, _crc(payload))
            buf += _CID
            buf += payload
            if len(buf) >= _BLOCK:
                self.buf = bytearray()
            m = match_compact_data(payload)
            stream = m[1] if m is not None else frame_stream(payload)
            if stream is not None:
                try:
                    self.streams[stream] += 1
                except KeyError:
                    self.streams[stream] = 1
            elif maybe_ack(payload) is not None:
                self.acks += 1
        else:
            self.other(transport, frame)


def _discard(_fd: int, data: memoryview) -> int:
    return len(data)


def _no_sync(_fd: int) -> None:
    return None


class _PassThrough:
    """Stands in for the journal writer's zstd compressor: hands the block back as it is."""

    def compress(self, data: bytes | bytearray) -> bytes:
        return bytes(data)


def file_ops(journal_thread: str) -> FileOps | None:
    """The journal's file operations for a worker rung: the real ones, or ones that write nothing."""
    return None if journal_thread == "real" else FileOps(write=_discard, datasync=_no_sync)


def pass_through(journal: Journal) -> None:
    """Make the journal's writer hand blocks on uncompressed (the bench reaches in: no such setting)."""
    assert journal._writer is not None
    journal._writer._compressor = _PassThrough()


RUNGS: list[tuple[str, type[Counter]]] = [
    ("1. bare client: count messages", Counter),
    ("2. + payload as bytes, receive timestamp", Stamped),
    ("3. + append to a bytearray", Buffered),
    ("4. + record framing and CRC-32C", Framed),
    ("5. + stream count, ack check", Counted),
]


async def run_client(
    listener: Callable[[], Counter],
    ws_url: str,
    token: str,
    groups: list[list[Registration]],
    seconds: float,
    producer_pid: int,
) -> dict[str, float]:
    """One rung on the worker's connections and registrations: frames/s and CPU per frame."""
    conns: list[Counter] = []
    for _ in groups:
        _, client = await ws_connect(listener, ws_url)
        conns.append(cast(Counter, client))
    for c, g in zip(conns, groups, strict=True):
        assert c.transport is not None
        for r in g:
            c.transport.send(WSMsgType.TEXT, registration_frame(token, SUBSCRIBE, r.tr_cd, r.tr_key))
    await asyncio.sleep(2)  # warm up, as the worker gets after its registrations
    n0, b0 = sum(c.frames for c in conns), sum(c.bytes for c in conns)
    cpu0, p0, t0 = time.process_time(), cpu_s(producer_pid), time.perf_counter()
    loop0, threads0 = thread_cpu_s()
    await asyncio.sleep(seconds)
    n1, b1 = sum(c.frames for c in conns), sum(c.bytes for c in conns)
    cpu1, p1, t1 = time.process_time(), cpu_s(producer_pid), time.perf_counter()
    loop1, threads1 = thread_cpu_s()
    for c in conns:
        if c.transport is not None:
            c.transport.send_close()
            c.transport.disconnect()
            await c.transport.wait_disconnected()
    wall, frames = t1 - t0, max(1, n1 - n0)
    return {
        "fps": (n1 - n0) / wall,
        "bytes_per_frame": (b1 - b0) / frames,
        "cpu_us": (cpu1 - cpu0) / frames * 1e6,
        "loop_cpu_us": (loop1 - loop0) / frames * 1e6,
        "thread_cpu_us": (threads1 - threads0) / frames * 1e6,
        "cpu_share": (cpu1 - cpu0) / wall,
        "producer_cpu_share": (p1 - p0) / wall,
        "producer_cpu_us": (p1 - p0) / frames * 1e6,
    }


async def ladder(
    worker_run: WorkerRun,
    ws_url: str,
    token: str,
    groups: list[list[Registration]],
    seconds: float,
    clock: Clock,
    pid: int,
) -> list[tuple[str, dict[str, float]]]:
    """bench/capture_ladder.py's rungs, then the worker with less and less left out of its journal's
    thread; the last row is the real worker at full speed."""
    rows: list[tuple[str, dict[str, float]]] = []
    for name, listener in RUNGS:
        rows.append((name, await run_client(listener, ws_url, token, groups, seconds, pid)))
        _say(*rows[-1])
    for name, mode in (
        ("6. the worker; its journal thread compresses and writes nothing", "none"),
        ("7. the worker; its journal thread compresses (zstd), writes nothing", "zstd"),
        ("8. the worker as `gatherer run`: zstd, write, fsync", "real"),
    ):
        rows.append((name, await worker_run(ws_url, token, groups, seconds, clock, pid, mode)))
        _say(*rows[-1])
    return rows


def _say(name: str, r: dict[str, float]) -> None:
    print(
        f"{name}: {r['fps']:,.0f} frames/s, CPU µs/frame {r['cpu_us']:.2f} (loop {r['loop_cpu_us']:.2f},"
        f" threads {r['thread_cpu_us']:.2f}), producer {r['producer_cpu_share']:.0%}",
        flush=True,
    )


def bound_fps(loop_us: float, thread_us: float, producer_us: float, cores: int) -> float:
    """The most frames/s a worker with these CPU costs per frame can take on this machine: its loop
    thread and its journal thread each on at most one core, and the three together (with the
    producer's cost of sending) on at most ``cores``."""
    limits = [cores * 1e6 / max(1e-9, loop_us + thread_us + producer_us), 1e6 / max(1e-9, loop_us)]
    if thread_us > 0:
        limits.append(1e6 / thread_us)
    return min(limits)


def cost_bound(r: dict[str, float], cores: int) -> float:
    """``bound_fps`` of one row's measured costs: the most frames/s they allow, whatever the load."""
    return bound_fps(r["loop_cpu_us"], r["thread_cpu_us"], r["producer_cpu_us"], cores)


def ladder_table(rows: list[tuple[str, dict[str, float]]], cores: int) -> str:
    """Markdown: the ratios to the first row first (measured, and by CPU cost), then frames/s and
    the CPU split per frame."""
    bare, bare_bound = rows[0][1]["fps"], cost_bound(rows[0][1], cores)
    out = [
        "| rung | frames/s, share of bare | by CPU cost, share of bare | frames/s"
        " | CPU µs/frame: all / receive loop / other threads | loop µs/frame over the rung above"
        " | producer CPU µs/frame |",
        "|---|---|---|---|---|---|---|",
    ]
    prev: float | None = None
    for name, r in rows:
        step = "" if prev is None else f"{r['loop_cpu_us'] - prev:+.2f}"
        out.append(
            f"| {name} | **{r['fps'] / bare:.1%}** | **{cost_bound(r, cores) / bare_bound:.1%}**"
            f" | {r['fps']:,.0f} | {r['cpu_us']:.2f} / {r['loop_cpu_us']:.2f} / {r['thread_cpu_us']:.2f}"
            f" | {step} | {r['producer_cpu_us']:.2f} |"
        )
        prev = r["loop_cpu_us"]
    return "\n".join(out)


def floor_text(rows: list[tuple[str, dict[str, float]]], cores: int) -> str:
    """What the ladder says about the ratio's floor, from CPU costs (which the machine's other load
    hardly changes, unlike frames/s): the most a worker with the measured costs can reach here as
    a share of what the bare client's costs allow, with this receive loop and with cheaper ones."""
    bare, alone, zstd, real = (rows[i][1] for i in (0, 5, 6, 7))
    top = cost_bound(bare, cores)
    loop_us, journal_us, producer_us = real["loop_cpu_us"], real["thread_cpu_us"], real["producer_cpu_us"]
    zstd_us = zstd["thread_cpu_us"] - alone["thread_cpu_us"]
    half = 0.5 * top
    budget_us = cores * 1e6 / half
    as_is = bound_fps(loop_us, journal_us, producer_us, cores) / top
    free_loop = bound_fps(bare["loop_cpu_us"], journal_us, producer_us, cores) / top
    # Compression spread over any number of threads: only the cores' total limits it.
    spread = min(1e6 / bare["loop_cpu_us"], cores * 1e6 / (bare["loop_cpu_us"] + journal_us + producer_us))
    need_us = bare["loop_cpu_us"] + zstd_us + producer_us
    verdict = (
        f"**So 50% of bare is out of reach on this machine.** At 50% ({half:,.0f} frames/s) the {cores} cores"
        f" have {budget_us:.2f} CPU µs per frame for everything; the journal's zstd (level"
        f" {JournalSettings().zstd_level}, the bytes on disk) takes {zstd_us:.2f}, the producer"
        f" {producer_us:.2f}, and a receive loop no dearer than the bare client's {bare['loop_cpu_us']:.2f}:"
        f" {need_us:.2f} µs before the worker stamps, frames, counts or writes anything. The worker's own"
        f" receive loop ({loop_us:.2f} µs/frame) puts it at {as_is:.0%}; cutting the loop further moves it"
        f" towards {free_loop:.0%} (the journal thread's cap), and only cheaper compression (another level"
        f" or a trained dictionary: other bytes on disk) or more cores move that cap."
        if need_us > budget_us or free_loop < 0.5
        else f"By these costs 50% of bare is within reach here (at most {free_loop:.0%} with a receive loop"
        f" as cheap as the bare client's): the receive loop is what is left to cut."
    )
    return f"""The floor, from CPU costs measured in this run (frames/s on this shared machine also
depend on what else runs; CPU µs per frame hardly do). "By CPU cost" is the most frames/s a row's
costs allow on {cores} cores (receive loop and journal thread each on at most one core, all of it
and the producer together on at most {cores}), as a share of the same for the bare client
({top:,.0f} frames/s):
- zstd alone (row 7's journal thread minus row 6's): **{zstd_us:.2f} CPU µs/frame**; the real
  journal thread (row 8: zstd, write, fsync) {journal_us:.2f}. One flusher thread compresses at a
  time, so the journal alone caps the worker at {1e6 / max(1e-9, journal_us):,.0f} frames/s,
  **{1e6 / max(1e-9, journal_us) / top:.0%} of bare**, whatever the receive loop costs.
- The worker as measured (row 8, receive loop {loop_us:.2f} µs/frame): **{as_is:.0%} of bare**;
  with a receive loop as cheap as the bare client's: {free_loop:.0%}; that, and compression spread
  over as many threads as it likes: {spread / top:.0%}.

{verdict}
"""
