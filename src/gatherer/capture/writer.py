"""The file side of the journal: segment files on disk, and writing whole blocks into them.

Files (format version 1, byte layout in ``segment.py`` and docs/formats.md)::

    <root>/journal/date=YYYY-MM-DD/<worker>-<NNNNNN>.journal

The date is the trading day (clock.trading_day_of with the configured cutoff) of the records in
the file: a record received at or after the next cutoff starts a segment in the next day's
directory. Segments also roll at ``max_segment_bytes``. Segment numbers and record sequence numbers
continue per worker across days and runs; opening a worker's journal first recovers (truncates
the torn tail of) its last segment (``resume``), then writes a new segment after it. A new segment
is written under a temporary name with its header, synced and renamed, so every segment has a
whole header.

``SegmentWriter`` appends blocks and syncs them, or leaves the file as it was: a failed append is
undone (the file is truncated back to its last whole block, so no later block is ever appended
after a torn one). Each block is compressed once, so one written again after a failure is
byte-identical to the first attempt. It never decides to retry or give up; the journal does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zstandard

from gatherer.capture.recover import recover_segment
from gatherer.capture.segment import SEGMENT_HEADER_SIZE, SEGMENT_SUFFIX, encode_block, encode_segment_header
from gatherer.capture.settings import JournalSettings
from gatherer.clock import Clock
from gatherer.errors import JournalCorrupt
from gatherer.files import fsync_dir

log = logging.getLogger(__name__)

_datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


@dataclass(frozen=True, slots=True)
class FileOps:
    """The system calls the writer appends, syncs and truncates with.

    The real ones by default; a test passes ones that fail like a full disk would (short writes,
    ENOSPC, EIO from fsync) to rehearse the incident deterministically.
    """

    write: Callable[[int, memoryview], int] = os.write
    datasync: Callable[[int], None] = _datasync
    fsync: Callable[[int], None] = os.fsync
    truncate: Callable[[int, int], None] = os.ftruncate


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


def resume(root: Path, worker_id: str) -> tuple[int, int]:
    """(next record seq, next segment number) of a worker's journal, after recovering its last segment.

    Truncates the torn tail of the last segment and removes segments whose creation was
    interrupted. Blocking file I/O: run it in a thread.
    """
    existing = worker_segments(root, worker_id)
    next_seq = 0
    next_segment = 1
    if existing:
        number, last = existing[-1]
        report = recover_segment(last)
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
        next_seq = report.end_seq
        next_segment = number + 1
    for tmp in (root / "journal").glob(f"date=*/{worker_id}-*{SEGMENT_SUFFIX}.tmp"):
        tmp.unlink()  # a segment whose creation was interrupted holds nothing but a header
    return next_seq, next_segment


class Chunk:
    """Records of one future block: encoded, then compressed once (kept until durable)."""

    __slots__ = ("block", "buf", "count", "day", "first_ns", "first_seq", "nbytes")

    def __init__(self, day: dt.date, first_seq: int) -> None:
        self.day = day
        self.first_seq = first_seq
        self.count = 0
        """Records in the block; set when the chunk is sealed (the journal counts by sequence number)."""
        self.buf = bytearray()
        self.nbytes = 0
        """Raw bytes, counted in ``pending_bytes``; set when the chunk is sealed."""
        self.block: bytes | None = None
        """The encoded block, made by the writer on the first try and reused by every retry."""
        self.first_ns = 0
        """Receive time of the chunk's first record: how long it waited to be durable (status page)."""


class SegmentWriter:
    """The file side; used from one worker thread at a time (the flusher serialises calls).

    ``write`` either makes every chunk durable or raises OSError with ``committed`` telling how
    many of them (a prefix) are durable; the rest must be passed again. A failed append is undone
    by truncating the segment back to its last whole block before anything else is written to it.
    """

    def __init__(
        self,
        root: Path,
        worker_id: str,
        next_segment: int,
        settings: JournalSettings,
        clock: Clock,
        ops: FileOps,
        *,
        header_id: str | None = None,
    ) -> None:
        self._root = root
        self._worker_id = worker_id
        self._header_id = header_id or worker_id
        """The worker id written in each segment's header (at most 16 bytes; a replica's file name may
        be longer than the collector's worker id it holds, ``replica.py``)."""
        self._next_segment = next_segment
        self._settings = settings
        self._clock = clock
        self._ops = ops
        self._compressor = zstandard.ZstdCompressor(level=settings.zstd_level)
        self._fd: int | None = None
        self._day: dt.date | None = None
        self._size = 0
        """Bytes of the open segment that are whole (header and blocks) and synced."""
        self._torn = False
        """The open segment may hold bytes past ``_size`` from a failed append."""
        self._synced_dirs: set[Path] = set()
        self.path: Path | None = None
        self.target: Path | None = None
        """The file or directory the writer is working on: where a failure happened."""
        self.committed = 0
        self.segments_created = 0

    def write(self, chunks: list[Chunk]) -> None:
        self.committed = 0
        self._repair()
        run: list[bytes] = []
        end = self._size
        max_bytes = self._settings.max_segment_bytes
        for chunk in chunks:
            block = chunk.block
            if block is None:
                block = chunk.block = encode_block(chunk.buf, chunk.count, chunk.first_seq, self._compressor)
                chunk.buf = bytearray()  # the block is what is kept from now on
            too_big = end > SEGMENT_HEADER_SIZE and end + len(block) > max_bytes
            if self._fd is None or chunk.day != self._day or too_big:
                self._append(run)
                run = []
                self._roll(chunk.day, chunk.first_seq)
                end = self._size
            run.append(block)
            end += len(block)
        self._append(run)

    def _append(self, blocks: list[bytes]) -> None:
        """Write and sync whole blocks at the end of the open segment, or leave it as it was."""
        if not blocks:
            return
        assert self._fd is not None
        data = b"".join(blocks)
        self.target = self.path
        try:
            self._write_all(self._fd, data)
            self._ops.datasync(self._fd)
        except OSError:
            # Some of it may be in the file (a short write, or pages an fsync error left behind):
            # cut back to the last whole block; if even that fails, _repair tries again first.
            self._torn = True
            with contextlib.suppress(OSError):
                self._repair()
            raise
        self._size += len(data)
        self.committed += len(blocks)

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:  # each turn writes at least one byte or raises: bounded by len(data)
            n = self._ops.write(fd, view)
            if n <= 0:
                raise OSError(errno.EIO, "write() wrote nothing")
            view = view[n:]

    def _repair(self) -> None:
        if self._torn and self._fd is not None:
            self.target = self.path
            self._ops.truncate(self._fd, self._size)
            self._torn = False

    def _roll(self, day: dt.date, first_seq: int) -> None:
        self.close()
        path = segment_path(self._root, day, self._worker_id, self._next_segment)
        if path.parent not in self._synced_dirs:
            self.target = path.parent
            path.parent.mkdir(parents=True, exist_ok=True)
            fsync_dir(path.parent.parent)
            self._synced_dirs.add(path.parent)
        header = encode_segment_header(self._header_id, self._next_segment, first_seq, self._clock.time_ns())
        tmp = path.with_name(path.name + ".tmp")
        self.target = tmp
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self._write_all(fd, header)
            self._ops.fsync(fd)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()  # give the space back; the next try writes it again
            raise
        os.close(fd)
        os.replace(tmp, path)
        self.target = path
        fsync_dir(path.parent)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # held open across calls; closed in close()
        self._day = day
        self._size = len(header)
        self.path = path
        self._next_segment += 1
        self.segments_created += 1
        log.info("Journal segment started.", extra={"file": str(path), "first_seq": first_seq})

    def close(self) -> None:
        if self._fd is not None:
            fd = self._fd
            self._fd = None
            self.target = self.path
            try:
                if self._torn:
                    self._ops.truncate(fd, self._size)
                    self._torn = False
                self._ops.fsync(fd)
            finally:
                os.close(fd)
