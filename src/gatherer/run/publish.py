"""The publisher: one worker's journal onto the bus, following it like the store does.

It runs in a process of its own per worker (``gatherer _publish``, started by the supervisor next to
the workers), so the receive path never waits for it: it reads whole, checksummed journal blocks from
the files (``BlockTail``), packs consecutive blocks into messages (``pack``: at least
``batch_frames`` records, at most ``batch_bytes``, whole blocks only), publishes them and, once the
stream has acknowledged them, records the last seq sent in its checkpoint
(``state/<worker>.publish.json``). A bus that is down or slow only makes it fall behind: the journal
holds the backlog, the publisher holds one poll (``POLL_BYTES``) and the messages in flight, and it
reconnects, goes back to its checkpoint and catches up. Nothing it does can slow capture down.

Its standard input is a pipe from the supervisor: end of file means "the journal is closed": it
publishes what is left (for at most ``bus.drain_s`` when the bus is away) and exits; the next run's
publisher continues from the checkpoint.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from io import BufferedReader
from pathlib import Path
from typing import Any

from gatherer.capture import Block, Corrupt, SegmentScanner, TornTail, worker_segments
from gatherer.capture.segment import BLOCK_HEADER_SIZE, SEGMENT_HEADER_SIZE, block_span, decode_segment_header
from gatherer.config import BusConfig
from gatherer.files import write_durable
from gatherer.sinks.bus import BusConfigError, BusError, Message, Outbox, connect, ensure_stream

log = logging.getLogger(__name__)

POLL_BYTES = 8 * 1024 * 1024
"""A poll returns once it holds this many bytes of blocks (one block more at most)."""
READ_BYTES = 1024 * 1024
"""Bytes read from a segment at a time: the scanner's buffer stays small, so taking a block off its
front costs little even when blocks are small."""
CHECKPOINT_EVERY_S = 1.0


def checkpoint_path(root: Path, worker_id: str) -> Path:
    return root / "state" / f"{worker_id}.publish.json"


def read_checkpoint(root: Path, worker_id: str) -> int:
    """The last seq of this worker the stream has acknowledged; -1 before the first."""
    path = checkpoint_path(root, worker_id)
    if not path.exists():
        return -1
    return int(json.loads(path.read_text(encoding="utf-8"))["seq"])


def write_checkpoint(root: Path, worker_id: str, seq: int) -> None:
    write_durable(checkpoint_path(root, worker_id), json.dumps({"v": 1, "seq": seq}).encode())


@dataclass(frozen=True, slots=True)
class RawBlock:
    first_seq: int
    count: int
    data: bytes


def _first_seq(segment: Path) -> int:
    with open(segment, "rb") as fh:
        header = decode_segment_header(fh.read(SEGMENT_HEADER_SIZE))
    return header.first_seq if header is not None else -1


Split = tuple[int, int, bytes] | Block | Corrupt | TornTail
"""A whole block's (first seq, record count, bytes), or what the careful scanner found."""


class _Splitter:
    """Cuts a segment's bytes into whole blocks by their headers (checksummed; bodies are checked by
    the sink that decodes them), without copying more than each block once. At anything that is not
    a valid block it hands the rest of the segment to ``SegmentScanner``, which resyncs and reports
    the damage."""

    def __init__(self) -> None:
        self._buf = b""
        self._base = 0
        self._header = True
        self._slow: SegmentScanner | None = None

    def feed(self, data: bytes) -> list[Split]:
        if self._slow is not None:
            return self._careful(self._slow.feed(data))
        buf = self._buf + data if self._buf else data
        pos = 0
        if self._header:
            if len(buf) < SEGMENT_HEADER_SIZE:
                self._buf = buf
                return []
            if decode_segment_header(buf[:SEGMENT_HEADER_SIZE]) is None:
                self._slow = SegmentScanner(decode=False)
                return self._careful(self._slow.feed(buf))
            pos, self._header = SEGMENT_HEADER_SIZE, False
        out: list[Split] = []
        while len(buf) - pos >= BLOCK_HEADER_SIZE:
            span = block_span(buf, pos)
            if span is None:
                self._slow = SegmentScanner(expect_header=False, decode=False, start_offset=self._base + pos)
                self._buf = b""
                return out + self._careful(self._slow.feed(buf[pos:]))
            size, first, count = span
            if len(buf) - pos < size:
                break
            out.append((first, count, buf[pos : pos + size]))
            pos += size
        self._base += pos
        self._buf = buf[pos:]
        return out

    def finish(self) -> list[Split]:
        if self._slow is not None:
            return self._careful(self._slow.finish())
        return [TornTail(self._base, len(self._buf), 0)] if self._buf else []

    @staticmethod
    def _careful(items: Sequence[object]) -> list[Split]:
        return [i for i in items if isinstance(i, (Block, Corrupt, TornTail))]


class BlockTail:
    """One worker's journal as it grows, as whole blocks' bytes (checked, not decompressed), from the
    block holding ``start_seq`` on. A segment is finished once a later one exists."""

    def __init__(self, root: Path, worker_id: str, *, start_seq: int = 0) -> None:
        self._root = root
        self._worker_id = worker_id
        self._start_seq = start_seq
        self._done: set[Path] = set()
        self._path: Path | None = None
        self._file: BufferedReader | None = None
        self._scanner = _Splitter()
        self.damaged = 0

    def poll(self) -> list[RawBlock]:
        out: list[RawBlock] = []
        size = 0
        while size < POLL_BYTES:
            if self._file is None and not self._open_next():
                break
            assert self._file is not None and self._path is not None
            data = self._file.read(READ_BYTES)
            if data:
                size += self._take(self._scanner.feed(data), out)
                continue
            segments = [p for _n, p in worker_segments(self._root, self._worker_id)]
            if self._path not in segments or segments.index(self._path) == len(segments) - 1:
                break  # the live segment: more may come
            self._take(self._scanner.finish(), out)
            self._done.add(self._path)
            self._file.close()
            self._file = None
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _take(self, items: Sequence[Split], out: list[RawBlock]) -> int:
        assert self._file is not None
        size = 0
        for item in items:
            if isinstance(item, tuple):
                first, count, data = item
                if first + count > self._start_seq:
                    out.append(RawBlock(first, count, data))
                    size += len(data)
            elif isinstance(item, Block):
                if item.first_seq + item.record_count <= self._start_seq:
                    continue
                data = os.pread(self._file.fileno(), item.size, item.offset)
                out.append(RawBlock(item.first_seq, item.record_count, data))
                size += item.size
            elif isinstance(item, (Corrupt, TornTail)):
                # Reported by the store (and `gatherer journal verify`); its records cannot be sent.
                self.damaged += 1
                log.error("%s: damaged journal bytes not published: %s", self._worker_id, item)
        return size

    def _open_next(self) -> bool:
        segments = [p for _n, p in worker_segments(self._root, self._worker_id)]
        for i, path in enumerate(segments):
            if path in self._done:
                continue
            if i + 1 < len(segments) and _first_seq(segments[i + 1]) <= self._start_seq:
                self._done.add(path)
                continue
            self._path = path
            self._file = open(path, "rb")
            self._scanner = _Splitter()
            return True
        return False


def pack(blocks: Sequence[RawBlock], batch_frames: int, batch_bytes: int) -> list[Message]:
    """Consecutive whole blocks per message: one closes once it holds ``batch_frames`` records or
    the next block would take it past ``batch_bytes`` (a block larger than that goes alone)."""
    out: list[Message] = []
    parts: list[bytes] = []
    first = count = size = 0
    for b in blocks:
        if parts and size + len(b.data) > batch_bytes:
            out.append(Message(first, first + count - 1, b"".join(parts)))
            parts, count, size = [], 0, 0
        if not parts:
            first = b.first_seq
        parts.append(b.data)
        count = b.first_seq + b.count - first
        size += len(b.data)
        if count >= batch_frames:
            out.append(Message(first, first + count - 1, b"".join(parts)))
            parts, count, size = [], 0, 0
    if parts:
        out.append(Message(first, first + count - 1, b"".join(parts)))
    return out


@dataclass
class PublishStats:
    records: int = 0
    messages: int = 0
    duplicates: int = 0
    reconnects: int = 0
    last_seq: int = -1
    drained: bool = False
    """Everything in the journal was acknowledged by the stream before the exit."""
    failures: dict[str, int] = field(default_factory=dict)
    """Why the bus was unavailable, and how often."""


async def publish_journal(
    root: Path,
    worker_id: str,
    bus: BusConfig,
    collector: str,
    *,
    closed: asyncio.Event,
    poll_s: float = 0.05,
    credentials: Mapping[str, str] | None = None,
) -> PublishStats:
    """Publish the worker's journal from its checkpoint on, until ``closed`` is set and the journal is
    published to its end (or ``bus.drain_s`` has passed since ``closed`` with the bus away)."""
    stats = PublishStats(last_seq=read_checkpoint(root, worker_id))
    loop = asyncio.get_running_loop()
    backoff = 0.2
    nc = None
    written_at = loop.time()
    written = stats.last_seq
    tail = BlockTail(root, worker_id, start_seq=stats.last_seq + 1)
    closed_at: float | None = None
    inflight: collections.deque[tuple[asyncio.Future[list[Any]], list[Message]]] = collections.deque()
    try:
        while True:
            if closed.is_set() and closed_at is None:
                closed_at = loop.time()
            if closed_at is not None and loop.time() - closed_at > bus.drain_s:
                log.warning("%s: bus unavailable; %s left unpublished until the next run", worker_id,
                            f"records after seq {stats.last_seq}")  # fmt: skip
                break
            try:
                if nc is None:
                    nc, js = await connect(
                        bus.url,
                        name=f"{collector}.{worker_id}",
                        max_pending=bus.max_inflight,
                        credentials=credentials,
                    )
                    await ensure_stream(js, bus)
                    outbox = Outbox(js, bus, collector, worker_id)
                    backoff = 0.2
                blocks = tail.poll()
                if blocks:
                    messages = pack(blocks, bus.batch_frames, bus.batch_bytes)
                    inflight.append((await outbox.start(messages), messages))
                # Reading the next poll overlaps the acks of this one; two polls in flight at most.
                while inflight and (len(inflight) > 2 or not blocks or inflight[0][0].done()):
                    acks, messages = inflight.popleft()
                    await outbox.finish(acks)
                    stats.messages += len(messages)
                    stats.records += sum(
                        m.last_seq - m.first_seq + 1 for m in messages if m.last_seq > stats.last_seq
                    )
                    stats.last_seq = max(stats.last_seq, messages[-1].last_seq)
                    stats.duplicates = outbox.duplicates
                if loop.time() - written_at >= CHECKPOINT_EVERY_S and stats.last_seq != written:
                    write_checkpoint(root, worker_id, stats.last_seq)
                    written, written_at = stats.last_seq, loop.time()
                if not blocks:
                    if closed_at is not None:
                        stats.drained = True
                        break
                    if stats.last_seq != written:
                        write_checkpoint(root, worker_id, stats.last_seq)
                        written, written_at = stats.last_seq, loop.time()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(closed.wait(), poll_s)
            except BusConfigError:
                raise
            except BusError as exc:
                why = type(exc).__name__
                stats.failures[why] = stats.failures.get(why, 0) + 1
                stats.reconnects += 1
                log.warning("%s: bus unavailable (%r); publishing again from seq %d in %.1f s",
                            worker_id, exc, stats.last_seq + 1, backoff)  # fmt: skip
                if nc is not None:
                    with contextlib.suppress(*BusError):
                        await asyncio.wait_for(nc.close(), 2)
                nc = None
                for acks, _m in inflight:
                    acks.cancel()
                inflight.clear()
                tail.close()
                tail = BlockTail(root, worker_id, start_seq=stats.last_seq + 1)
                if closed.is_set():
                    await asyncio.sleep(backoff)
                else:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(closed.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
    finally:
        tail.close()
        if stats.last_seq != written:
            write_checkpoint(root, worker_id, stats.last_seq)
        if nc is not None:
            with contextlib.suppress(*BusError):
                await asyncio.wait_for(nc.close(), 2)
    return stats


__all__ = [
    "BlockTail",
    "PublishStats",
    "RawBlock",
    "pack",
    "publish_journal",
    "read_checkpoint",
    "write_checkpoint",
]
