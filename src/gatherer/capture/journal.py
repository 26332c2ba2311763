"""The journal writer: append raw records now, make them durable in groups.

Every frame a connection receives is appended here before anything parses it (DESIGN.md,
"Record raw first"). ``Journal.append`` runs on the event loop inside a WebSocket callback: it
encodes the record into an in-memory block and returns its sequence number, with no I/O. A flusher
task compresses pending blocks (zstd, one frame per block), writes and fsyncs them in a worker
thread at least every ``commit_interval_s``, and on rotation and close; ``durable_seq`` then moves
and ``wait_durable`` waiters wake. It never parses a payload and never drops one.

Files (format version 1, byte layout in ``segment.py`` and docs/formats.md)::

    <root>/journal/date=YYYY-MM-DD/<worker>-<NNNNNN>.journal

The date is the trading day (clock.trading_day_of with the configured cutoff) of the records in
the file: a record received at or after the next cutoff starts a segment in the next day's
directory. Segments also roll at ``max_segment_bytes``. Segment numbers and record sequence numbers
continue per worker across days and runs; opening a worker's journal first recovers (truncates
the torn tail of) its last segment, then writes a new segment after it. A new segment is written
under a temporary name with its header, synced and renamed, so every segment has a whole header.

Back-pressure contract: the journal never refuses, drops or raises for being full. When pending
(not yet written) bytes exceed ``max_pending_bytes``, ``backlogged`` is True and ``wait_writable``
blocks until the flusher has caught up; the owner decides to stop reading the socket meanwhile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import google_crc32c
import zstandard

from gatherer.capture.recover import recover_segment
from gatherer.capture.segment import (
    MAX_WORKER_ID_BYTES,
    SEGMENT_HEADER_SIZE,
    SEGMENT_SUFFIX,
    Kind,
    encode_block,
    encode_segment_header,
)
from gatherer.clock import DEFAULT_CUTOFF, Clock, SystemClock, next_cutoff_ns, trading_day_of
from gatherer.errors import GathererError, JournalCorrupt
from gatherer.files import fsync_dir

log = logging.getLogger(__name__)

_RECORD_HEAD = struct.Struct("<BBIqI")
# Plain ints: hashing an IntEnum member runs Python code, too slow for the hot path.
_KINDS = frozenset(int(k) for k in Kind)
_WORKER_ID = re.compile(r"^[A-Za-z0-9_]+$")
_crc = google_crc32c.value
_datasync = getattr(os, "fdatasync", os.fsync)


class JournalFailed(GathererError):
    """Writing or syncing the journal failed (disk full, I/O error); nothing after it is durable."""


@dataclass(frozen=True, slots=True)
class JournalSettings:
    """How the journal batches, bounds and rolls its files."""

    commit_interval_s: float = 0.05
    """Longest a record waits before its block is written and fsync'd."""
    max_pending_bytes: int = 64 * 1024 * 1024
    """Above this many unwritten bytes ``backlogged`` is True (records are still accepted)."""
    max_segment_bytes: int = 256 * 1024 * 1024
    """A segment rolls before a block would take it past this size."""
    block_bytes: int = 1024 * 1024
    """Raw size at which a block is sealed and written without waiting for the interval."""
    cutoff: dt.time = DEFAULT_CUTOFF
    """Trading-day cutoff, Asia/Seoul wall time."""
    zstd_level: int = 3


def segment_path(root: Path, day: dt.date, worker_id: str, segment: int) -> Path:
    return root / "journal" / f"date={day.isoformat()}" / f"{worker_id}-{segment:06d}{SEGMENT_SUFFIX}"


def worker_segments(root: Path, worker_id: str) -> list[tuple[int, Path]]:
    """(segment number, path) of every segment of one worker under ``root``, in segment order."""
    found: list[tuple[int, Path]] = []
    for path in (root / "journal").glob(f"date=*/{worker_id}-*{SEGMENT_SUFFIX}"):
        number = path.name[len(worker_id) + 1 : -len(SEGMENT_SUFFIX)]
        if number.isdigit():
            found.append((int(number), path))
    return sorted(found)


class _Chunk:
    """Records of one future block: encoded, not yet compressed."""

    __slots__ = ("buf", "count", "day", "first_seq")

    def __init__(self, day: dt.date, first_seq: int) -> None:
        self.day = day
        self.first_seq = first_seq
        self.count = 0
        self.buf = bytearray()


class _SegmentWriter:
    """The file side; used from one worker thread at a time (the flusher serialises calls)."""

    def __init__(
        self, root: Path, worker_id: str, next_segment: int, settings: JournalSettings, clock: Clock
    ) -> None:
        self._root = root
        self._worker_id = worker_id
        self._next_segment = next_segment
        self._settings = settings
        self._clock = clock
        self._compressor = zstandard.ZstdCompressor(level=settings.zstd_level)
        self._file: BinaryIO | None = None
        self._day: dt.date | None = None
        self._size = 0
        self.path: Path | None = None
        self.segments_created = 0

    def write(self, chunks: list[_Chunk]) -> None:
        pending: list[bytes] = []
        for chunk in chunks:
            block = encode_block(chunk.buf, chunk.count, chunk.first_seq, self._compressor)
            too_big = self._size > SEGMENT_HEADER_SIZE and (
                self._size + len(block) > self._settings.max_segment_bytes
            )
            if self._file is None or chunk.day != self._day or too_big:
                self._drain(pending)
                self._roll(chunk.day, chunk.first_seq)
            pending.append(block)
            self._size += len(block)
        self._drain(pending)
        if self._file is not None:
            _datasync(self._file.fileno())

    def _drain(self, pending: list[bytes]) -> None:
        if pending:
            assert self._file is not None
            self._file.write(b"".join(pending))
            self._file.flush()
            pending.clear()

    def _roll(self, day: dt.date, first_seq: int) -> None:
        self.close()
        path = segment_path(self._root, day, self._worker_id, self._next_segment)
        new_dir = not path.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        if new_dir:
            fsync_dir(path.parent.parent)
        header = encode_segment_header(self._worker_id, self._next_segment, first_seq, self._clock.time_ns())
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(header)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
        self._file = open(path, "ab")  # held open across calls; closed in close()
        self._day = day
        self._size = len(header)
        self.path = path
        self._next_segment += 1
        self.segments_created += 1
        log.info("Journal segment started.", extra={"file": str(path), "first_seq": first_seq})

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


class Journal:
    """One worker's journal. Build with ``await Journal.open(...)`` or ``async with Journal(...)``.

    ``append`` must be called from the event loop thread the journal was opened on.
    """

    def __init__(
        self,
        root: Path | str,
        worker_id: str,
        *,
        settings: JournalSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not _WORKER_ID.match(worker_id) or len(worker_id.encode()) > MAX_WORKER_ID_BYTES:
            raise ValueError(f"worker id {worker_id!r}: expected 1..16 characters of [A-Za-z0-9_]")
        self._root = Path(root)
        self._worker_id = worker_id
        self._settings = settings or JournalSettings()
        self._clock: Clock = clock or SystemClock()
        self._cid_cache: dict[str, bytes] = {}
        self._sealed: list[_Chunk] = []
        self._pending_bytes = 0
        self._next_seq = 0
        self._durable_seq = -1
        self._failure: BaseException | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._writer: _SegmentWriter | None = None
        # Set in open(): they need the running loop and the recovered position.
        self._day = dt.date.min
        self._next_cutoff_ns = 0
        self._chunk = _Chunk(self._day, 0)

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        root: Path | str,
        worker_id: str,
        *,
        settings: JournalSettings | None = None,
        clock: Clock | None = None,
    ) -> Journal:
        """Recover the worker's last segment, then start the flusher; records go to a new segment."""
        journal = cls(root, worker_id, settings=settings, clock=clock)
        await journal._start()
        return journal

    async def _start(self) -> None:
        if self._task is not None:
            raise RuntimeError("journal already open")
        existing = await asyncio.to_thread(worker_segments, self._root, self._worker_id)
        next_segment = 1
        if existing:
            number, last = existing[-1]
            report = await asyncio.to_thread(recover_segment, last)
            if report.header is None:
                raise JournalCorrupt(
                    f"segment {last} has a damaged header, so its records cannot be numbered; "
                    "move it aside and run `gatherer journal verify` on it"
                )
            if report.truncated_bytes:
                log.warning(
                    "Journal torn tail truncated.",
                    extra={
                        "file": str(last),
                        "bytes": report.truncated_bytes,
                        "records": report.torn_records,
                    },
                )
            self._next_seq = report.end_seq
            next_segment = number + 1
        for tmp in (self._root / "journal").glob(f"date=*/{self._worker_id}-*{SEGMENT_SUFFIX}.tmp"):
            tmp.unlink()  # a segment whose creation was interrupted holds nothing but a header
        self._durable_seq = self._next_seq - 1
        now = self._clock.time_ns()
        self._day = trading_day_of(now, self._settings.cutoff)
        self._next_cutoff_ns = next_cutoff_ns(now, self._settings.cutoff)
        self._chunk = _Chunk(self._day, self._next_seq)
        self._writer = _SegmentWriter(self._root, self._worker_id, next_segment, self._settings, self._clock)
        self._has_data = asyncio.Event()
        self._kick = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._flushed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._flusher(), name=f"journal-flusher-{self._worker_id}")

    async def __aenter__(self) -> Journal:
        if self._task is None:
            await self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Write and fsync everything appended, close the segment. Raises JournalFailed if writes failed."""
        if self._task is None:
            return
        self._closing = True
        self._kick.set()
        self._has_data.set()
        try:
            await asyncio.shield(self._task)
        finally:
            if self._writer is not None:
                await asyncio.to_thread(self._writer.close)
        self._raise_if_failed()

    # -- hot path ---------------------------------------------------------------------------

    def append(self, kind: Kind, conn_id: str, payload: bytes, recv_ns: int | None = None) -> int:
        """Add one record and return its sequence number. No I/O; never refuses for being full.

        ``recv_ns`` defaults to the clock's time. A ``bytearray``/``memoryview`` payload is copied.
        Raises JournalFailed once a write has failed, and RuntimeError after close.
        """
        if self._failure is not None or self._closing:
            self._raise_if_failed()
            raise RuntimeError("journal is closed")
        if recv_ns is None:
            recv_ns = self._clock.time_ns()
        if recv_ns >= self._next_cutoff_ns:
            self._roll_day(recv_ns)
        if type(payload) is not bytes:
            payload = bytes(payload)
        cid = self._cid_cache.get(conn_id)
        if cid is None:
            cid = self._encode_conn_id(conn_id)
        if kind not in _KINDS:
            raise ValueError(f"unknown record kind {kind!r}")
        chunk = self._chunk
        buf = chunk.buf
        buf += _RECORD_HEAD.pack(kind, len(cid), len(payload), recv_ns, _crc(payload))
        buf += cid
        buf += payload
        seq = self._next_seq
        self._next_seq = seq + 1
        chunk.count += 1
        self._pending_bytes += 18 + len(cid) + len(payload)
        if chunk.count == 1:
            self._has_data.set()
        if len(buf) >= self._settings.block_bytes:
            self._seal()
            self._kick.set()
        if self._pending_bytes > self._settings.max_pending_bytes and self._writable.is_set():
            self._writable.clear()
        return seq

    def _encode_conn_id(self, conn_id: str) -> bytes:
        cid = conn_id.encode()
        if len(cid) > 255:
            raise ValueError(f"connection id {conn_id!r} is longer than 255 bytes")
        self._cid_cache[conn_id] = cid
        return cid

    def _roll_day(self, recv_ns: int) -> None:
        self._seal()
        self._day = trading_day_of(recv_ns, self._settings.cutoff)
        self._next_cutoff_ns = next_cutoff_ns(recv_ns, self._settings.cutoff)
        self._chunk.day = self._day
        self._kick.set()

    def _seal(self) -> None:
        chunk = self._chunk
        if chunk.count:
            self._sealed.append(chunk)
            self._chunk = _Chunk(self._day, self._next_seq)

    # -- durability -------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """Sequence number the next append will get."""
        return self._next_seq

    @property
    def durable_seq(self) -> int:
        """Every record with ``seq <= durable_seq`` is on disk and fsync'd (-1: none yet)."""
        return self._durable_seq

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def backlogged(self) -> bool:
        """True while unwritten bytes exceed ``max_pending_bytes``; the owner should stop reading."""
        return self._pending_bytes > self._settings.max_pending_bytes

    @property
    def segment_path(self) -> Path | None:
        """The segment being written, once the first block has been written."""
        return None if self._writer is None else self._writer.path

    async def wait_writable(self) -> None:
        """Return once pending bytes are back under ``max_pending_bytes``."""
        while not self._writable.is_set():
            self._raise_if_failed()
            await self._writable.wait()
        self._raise_if_failed()

    async def wait_durable(self, seq: int) -> None:
        """Return once record ``seq`` (and all before it) is fsync'd. Does not hurry the flusher."""
        if seq >= self._next_seq:
            raise ValueError(f"record {seq} has not been appended (next is {self._next_seq})")
        while self._durable_seq < seq:
            self._raise_if_failed()
            if self._task is None or self._task.done():
                raise RuntimeError("journal is not running")
            await asyncio.shield(self._flushed)
        self._raise_if_failed()

    async def flush(self) -> None:
        """Write and fsync everything appended so far, now."""
        if self._next_seq - 1 > self._durable_seq:
            self._kick.set()
            await self.wait_durable(self._next_seq - 1)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise JournalFailed(
                f"journal of worker {self._worker_id} could not write: {self._failure}; records after "
                f"seq {self._durable_seq} are not durable"
            ) from self._failure

    # -- flusher ----------------------------------------------------------------------------

    async def _flusher(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._settings.commit_interval_s
        first_pending_at: float | None = None
        assert self._writer is not None
        try:
            while True:
                if first_pending_at is None:
                    await self._has_data.wait()
                    first_pending_at = loop.time()
                remaining = first_pending_at + interval - loop.time()
                if remaining > 0 and not self._kick.is_set() and not self._closing:
                    try:
                        await asyncio.wait_for(self._kick.wait(), timeout=remaining)
                    except TimeoutError:
                        pass
                self._kick.clear()
                self._has_data.clear()
                self._seal()
                chunks, self._sealed = self._sealed, []
                started = loop.time()
                if chunks:
                    await asyncio.to_thread(self._writer.write, chunks)
                    self._durable_seq = chunks[-1].first_seq + chunks[-1].count - 1
                    self._pending_bytes -= sum(len(c.buf) for c in chunks)
                    if self._pending_bytes <= self._settings.max_pending_bytes:
                        self._writable.set()
                    self._wake_durable_waiters()
                # Records that came in during the write have waited at most since it started.
                first_pending_at = started if (self._chunk.count or self._sealed) else None
                if self._closing and first_pending_at is None:
                    return
        except OSError as exc:
            self._failure = exc
            log.error(
                "Journal write failed; records are no longer durable.",
                extra={"worker": self._worker_id, "durable_seq": self._durable_seq},
            )
            raise JournalFailed(f"journal write failed: {exc}") from exc
        finally:
            self._writable.set()
            self._wake_durable_waiters()

    def _wake_durable_waiters(self) -> None:
        if not self._flushed.done():
            self._flushed.set_result(None)
        self._flushed = asyncio.get_running_loop().create_future()
