"""A journal replica: another host's journal, block by block, in the collector's own layout.

The sink (``run.sink``) receives each collector's worker's journal as whole blocks over the bus and
keeps them here, under ``<root>/journal/date=D/<name>-NNNNNN.journal`` with ``name`` =
``<collector>.<worker>``, in the segment format of ``segment.py``: every reader of a journal
(``gatherer journal verify``, the ledger, ``rebuild``, ``report``, ``quality``, retention) works on the
sink's root as on the collector's.

- Blocks are appended as they came (headers, checksums, zstd bodies), never re-encoded; only a block
  that overlaps what the replica already holds (a publisher never sends one: block boundaries are
  fixed on disk) has its new records encoded into a block of their own.
- A block's trading day is its first record's (``clock.trading_day_of`` with the journal's cutoff),
  never earlier than the block before it's: a collector's journal rolls forward only, at the first
  record past the cutoff, so the replica's day directories hold what the collector's hold.
- Records the replica already holds (a message sent or delivered again) are skipped. Records that
  never came (a hole in the stream) start a new segment at the first record after them, so a
  segment's records stay consecutive.
- ``append`` writes without syncing; ``sync`` makes everything appended durable (fdatasync) and the
  sink calls it before its checkpoint and its ack. ``open`` recovers the last segment as a
  collector's journal does (``writer.resume``: a torn tail is truncated) and continues in a new one.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import zstandard

from gatherer.capture.segment import MAX_WORKER_ID_BYTES, Block, encode_block, encode_record
from gatherer.capture.settings import JournalSettings
from gatherer.capture.writer import Chunk, FileOps, SegmentWriter, resume, worker_segments
from gatherer.clock import Clock, trading_day_of

_datasync = getattr(os, "fdatasync", os.fsync)


class _DeferredSync:
    """File operations that note the segment a block went to instead of syncing it at once."""

    def __init__(self) -> None:
        self.dirty: set[int] = set()

    def datasync(self, fd: int) -> None:
        self.dirty.add(fd)

    def fsync(self, fd: int) -> None:
        # The writer fsyncs a segment's header file and a segment it closes: really, and at once.
        self.dirty.discard(fd)
        os.fsync(fd)

    def sync(self) -> None:
        for fd in sorted(self.dirty):
            _datasync(fd)
        self.dirty.clear()


class Replica:
    """One ``<collector>.<worker>``'s journal on this host. Build with ``Replica.open`` (blocking)."""

    def __init__(
        self, root: Path, name: str, clock: Clock, next_seq: int, next_segment: int, day: dt.date
    ) -> None:
        self.name = name
        self.settings = JournalSettings()
        self._sync = _DeferredSync()
        ops = FileOps(datasync=self._sync.datasync, fsync=self._sync.fsync)
        header_id = name if len(name.encode()) <= MAX_WORKER_ID_BYTES else name.rsplit(".", 1)[-1]
        self._writer = SegmentWriter(
            root, name, next_segment, self.settings, clock, ops, header_id=header_id[:MAX_WORKER_ID_BYTES]
        )
        self._compressor = zstandard.ZstdCompressor(level=self.settings.zstd_level)
        self.next_seq = next_seq
        """The seq after the last record the replica holds."""
        self.day = day
        """The trading day of the last block appended (``date.min``: none yet)."""
        self.days: set[dt.date] = set()
        """Days appended to since the caller last emptied this set (their ledgers are due)."""
        self.records = 0
        """Records appended since ``open``."""
        self.holes = 0
        """Times a block did not follow on from the replica's end (a new segment started there)."""

    @classmethod
    def open(cls, root: Path, name: str, clock: Clock) -> Replica:
        """The replica ``name`` under ``root``: its last segment recovered (blocking file I/O)."""
        next_seq, next_segment = resume(root, name)
        segments = worker_segments(root, name)
        day = dt.date.fromisoformat(segments[-1][1].parent.name[5:]) if segments else dt.date.min
        return cls(root, name, clock, next_seq, next_segment, day)

    def append(self, data: bytes, block: Block) -> None:
        """Add one received block (``data``: its bytes as they came) unless the replica holds it."""
        assert block.records is not None
        if block.end_seq <= self.next_seq or not block.records:
            return
        if block.first_seq < self.next_seq:
            fresh = [r for r in block.records if r.seq >= self.next_seq]
            raw = b"".join(encode_record(r.kind, r.conn_id.encode(), r.recv_ns, r.payload) for r in fresh)
            data = encode_block(raw, len(fresh), fresh[0].seq, self._compressor)
            first_seq = fresh[0].seq
        else:
            first_seq = block.first_seq
            if first_seq > self.next_seq:
                self.holes += 1
                self._writer.close()  # the next segment's header says where its records start
        day = max(self.day, trading_day_of(block.records[0].recv_ns, self.settings.cutoff))
        chunk = Chunk(day, first_seq)
        chunk.block = data
        self._writer.write([chunk])
        self.records += block.end_seq - first_seq
        self.next_seq = block.end_seq
        self.day = day
        self.days.add(day)

    def sync(self) -> None:
        """Everything appended so far on disk (fdatasync of the segments written since the last sync)."""
        self._sync.sync()

    def close(self) -> None:
        self._writer.close()


__all__ = ["Replica"]
