"""Decode and store, off the hot path: follow a worker's journal and write Parquet.

The journal is the queue between the receive path and this stage: the store reads
blocks only once they are complete on disk, so it never slows the worker down, never
holds more than one block of look-ahead in memory, and, when it falls behind, simply
catches up from the files. It runs in its own process (``gatherer _store``, started
by ``gatherer run``; ``run.store_process``), wired by ``run.pipeline``.

Exactly once into Parquet across crashes: after every full flush of the sink (all
buffers written) the store writes a checkpoint, the last journal ``seq`` whose rows are
all in Parquet. A restart resumes after the checkpoint and first removes this worker's
Parquet files and quarantine lines of records after it (written by a run that died
before its next checkpoint), so no row is lost and none is written twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from io import BufferedReader
from pathlib import Path
from typing import Any

from gatherer.capture import Block, Corrupt, Damage, Record, SegmentScanner, TornTail, worker_segments
from gatherer.capture.segment import SEGMENT_HEADER_SIZE, decode_segment_header
from gatherer.clock import TradingDays
from gatherer.decode import Batch, Decoder, Quarantined
from gatherer.files import rewrite_jsonl, write_durable
from gatherer.ledger.chain import VolumeChains
from gatherer.ledger.gapfile import discard_gaps_after, write_gaps
from gatherer.sinks import ParquetSink, WrittenFile, file_metadata, write_quarantine

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
POLL_RECORDS = 20_000
"""A poll returns once it holds this many records (a read's worth more at most)."""
BACKLOG_S = 0.5
"""A full poll (a backlog) is followed by the next at once, for up to this long, instead of after
the caller's pause between polls (50 ms in the store process: ~10 % of a catch-up's time)."""
STORE_BUFFER_BYTES = 24 * 1024 * 1024
"""The store's Parquet buffers, all partitions together, in Arrow bytes: beyond it the largest is
spilled as a sorted run into its partition's open file (finished at the checkpoint), so a store's
memory stays bounded however wide the TRs, without a file per spill. With decode_batch_rows below
(a pending frame costs its payload and ~220 B until its batch is typed, decode/bodies.py) the store
process holds 190-220 MB at 5,000 frames/s with 300 s checkpoints (bench/live_store --soak; ~120 MB
of it is the interpreter and libraries before the first frame) and writes 45 B/frame (bench/store).
Measured before pending frames were kept unread: smaller spills cost Parquet bytes (12 MiB with
4,000-row batches: 49 B/frame), 96 MiB with 20,000 (no spilling into open files) 41 B/frame for
~100 MB more; 4,000-row batches cost ~18 % of the decoder's speed."""


def checkpoint_path(root: Path, worker_id: str) -> Path:
    return root / "state" / f"{worker_id}.store.json"


def _checkpoint_data(root: Path, worker_id: str) -> dict[str, Any]:
    path = checkpoint_path(root, worker_id)
    if not path.exists():
        return {"seq": -1}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def read_checkpoint(root: Path, worker_id: str) -> int:
    """The last journal seq whose rows are all in Parquet; -1 before the first checkpoint."""
    return int(_checkpoint_data(root, worker_id)["seq"])


def write_checkpoint(
    root: Path,
    worker_id: str,
    seq: int,
    chains: Mapping[str, list[Any]] | None = None,
    phases: Mapping[str, Any] | None = None,
) -> None:
    """Record ``seq`` and the volume chains as they stood after it (``ledger.VolumeChains.state``),
    and the session phases (``decode.phases``), so a restarted store labels rows as a rebuild would."""
    data: dict[str, Any] = {"v": CHECKPOINT_VERSION, "seq": seq, "chains": dict(chains or {})}
    if phases:
        data["phases"] = dict(phases)
    write_durable(checkpoint_path(root, worker_id), json.dumps(data).encode())


def discard_after(root: Path, worker_id: str, seq: int) -> tuple[int, int]:
    """Remove this worker's Parquet files, quarantine lines and gap lines holding records after ``seq``.

    After a checkpoint every buffer was empty, so a later file holds only later records.
    Returns (files removed, quarantine and gap lines removed).
    """
    files = 0
    for path in (root / "parquet").glob(f"date=*/market=*/channel=*/{worker_id}-*.parquet"):
        if int(file_metadata(path).get("seq_min", "-1")) > seq:
            path.unlink()
            files += 1
    lines = sum(
        rewrite_jsonl(path, lambda item: int(item["seq"]) <= seq)
        for path in (root / "quarantine").glob(f"date=*/{worker_id}.jsonl")
    )
    return files, lines + discard_gaps_after(root, worker_id, seq)


@contextlib.contextmanager
def exclusive(root: Path, worker_id: str, *, poll_s: float = 0.05) -> Iterator[None]:
    """Hold ``state/<worker>.store.lock`` (flock) while this store runs.

    When a worker is killed, its store (now without a parent) drains the journal before it exits,
    while the restarted worker already starts a new store: the new one waits here until the old
    one is gone, so one worker's Parquet files and checkpoint never have two writers. The wait
    ends by itself: the old store exits once the journal stops growing under it.
    """
    path = root / "state" / f"{worker_id}.store.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    log.warning("%s: waiting for the previous decode-and-store process to finish", worker_id)
                    said = True
                time.sleep(poll_s)
        yield
    finally:
        os.close(fd)


def _first_seq(segment: Path) -> int:
    with open(segment, "rb") as fh:
        header = decode_segment_header(fh.read(SEGMENT_HEADER_SIZE))
    return header.first_seq if header is not None else -1


class JournalTail:
    """Reads one worker's journal segments as they grow, returning whole blocks' records.

    A segment is finished once a later one exists (the writer only starts a segment after
    closing the previous one); the last segment is followed as it grows.
    """

    def __init__(
        self,
        root: Path,
        worker_id: str,
        *,
        start_seq: int = 0,
        read_bytes: int = 1 << 20,
        finished: Sequence[Path] | None = None,
    ) -> None:
        """``finished``: read exactly these segments, every one complete (a finished journal, e.g.
        one day's for a rebuild), instead of following the worker's journal as it grows.
        ``read_bytes``: one read's size; a MiB of journal is ~10,000 records (~11 MB as objects)."""
        self._root = root
        self._worker_id = worker_id
        self._start_seq = start_seq
        self._read_bytes = read_bytes
        self._finished = list(finished) if finished is not None else None
        self._done: set[Path] = set()
        self._path: Path | None = None
        self._file: BufferedReader | None = None
        self._scanner = SegmentScanner()
        self.damage: list[Damage] = []
        self.last_seq = start_seq - 1
        self.bytes_read = 0
        """Journal bytes read so far (progress of a rebuild)."""

    def poll(self) -> list[Record]:
        """The complete records written since the last poll (from ``start_seq`` on): all of them, or
        once at least ``POLL_RECORDS`` are in hand the rest waits for the next poll, so a backlog
        (a store catching up, a rebuild) is read a slice at a time, never into memory whole."""
        out: list[Record] = []
        while True:
            if self._file is None and not self._open_next():
                return out
            assert self._file is not None
            data = self._file.read(self._read_bytes)
            if data:
                self.bytes_read += len(data)
                self._take(self._scanner.feed(data), out)
                if len(out) >= POLL_RECORDS:
                    return out
                continue
            if not self._has_later_segment():
                return out  # following the live segment: more may come
            self._take(self._scanner.finish(), out)
            assert self._path is not None
            self._done.add(self._path)
            self._file.close()
            self._file = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _take(self, items: Iterable[object], out: list[Record]) -> None:
        for item in items:
            if isinstance(item, Block):
                assert item.records is not None
                if item.first_seq + len(item.records) <= self._start_seq:
                    continue
                out.extend(r for r in item.records if r.seq >= self._start_seq)
                self.last_seq = max(self.last_seq, item.records[-1].seq)
            elif isinstance(item, (Corrupt, TornTail)):
                assert self._path is not None
                reason = item.reason if isinstance(item, Corrupt) else "torn tail"
                self.damage.append(Damage(self._path, item.offset, item.length, reason, item.records_lost))
                log.error("journal damage while decoding %s: %s", self._path.name, item)

    def _segments(self) -> list[Path]:
        if self._finished is not None:
            return self._finished
        return [p for _n, p in worker_segments(self._root, self._worker_id)]

    def _open_next(self) -> bool:
        segments = self._segments()
        for i, path in enumerate(segments):
            if path in self._done:
                continue
            if i + 1 < len(segments) and _first_seq(segments[i + 1]) <= self._start_seq:
                self._done.add(path)  # every record in it comes before where we start
                continue
            self._path = path
            self._file = open(path, "rb")  # kept open while the segment grows
            self._scanner = SegmentScanner()
            return True
        return False

    def _has_later_segment(self) -> bool:
        if self._finished is not None:
            return True  # every segment is complete: read each to its end, torn tails reported
        segments = self._segments()
        return self._path in segments and segments.index(self._path) < len(segments) - 1


@dataclass
class StoreStats:
    records: int = 0
    rows: int = 0
    quarantined: int = 0
    files: int = 0
    damaged_blocks: int = 0
    gaps: int = 0
    """Holes in the cumulative-volume chains (``gaps/date=D/<worker>.jsonl``)."""
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


class Store:
    """Journal records in, Parquet files and quarantine lines out, with checkpoints."""

    def __init__(
        self,
        root: Path,
        worker_id: str,
        *,
        version: str,
        venue: str,
        cutoffs: Mapping[str, dt.time] | None = None,
        decode_batch_rows: int = 8_000,
        chains: Mapping[str, list[Any]] | None = None,
        phases: Mapping[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.worker_id = worker_id
        self._days = TradingDays(cutoffs)
        self._decoder = Decoder(cutoffs=cutoffs, batch_rows=decode_batch_rows, phases=phases)
        # Bounded memory in the store process: at most ~1M decoded rows, STORE_BUFFER_BYTES of them
        # (memory pressure spills runs into open files; a file is finished at the checkpoint).
        self._sink = ParquetSink(
            root,
            worker_id,
            version=version,
            venue=venue,
            rotate_rows=500_000,
            max_buffered_rows=1_000_000,
            max_buffered_bytes=STORE_BUFFER_BYTES,
        )
        self._batch_rows = decode_batch_rows
        self.stats = StoreStats()
        self.last_seq = -1
        self.last_recv_ns = 0
        """Receive time of the last record added (the status page's store lag)."""
        self.chains = VolumeChains(worker_id, chains)

    @classmethod
    def resume(
        cls,
        root: Path,
        worker_id: str,
        *,
        version: str,
        venue: str,
        cutoffs: Mapping[str, dt.time] | None = None,
    ) -> tuple[Store, int]:
        """A store that continues after this worker's checkpoint; returns it and the first seq to feed."""
        data = _checkpoint_data(root, worker_id)
        seq = int(data["seq"])
        files, lines = discard_after(root, worker_id, seq)
        if files or lines:
            log.warning(
                "%s: removed %d Parquet file(s) and %d quarantine line(s) written after the last checkpoint"
                " (seq %d); they are written again from the journal",
                worker_id, files, lines, seq,
            )  # fmt: skip
        store = cls(
            root, worker_id, version=version, venue=venue, cutoffs=cutoffs, chains=data.get("chains"),
            phases=data.get("phases"),
        )  # fmt: skip
        store.last_seq = seq
        return store, seq + 1

    @property
    def written(self) -> list[WrittenFile]:
        """Every Parquet file this store has written (``sinks.WrittenFile``)."""
        return self._sink.written

    def add(self, records: list[Record]) -> None:
        """Decode and store records; a long list (a backlog read in one poll) goes in slices of
        ``POLL_RECORDS``, each written once decoded, so no more frames than that wait to be typed
        whatever the poll held (memory: bench/live_store). Slices of a decode batch would cost ~5 %
        of the store's speed (bench/store): a key's rows become batches of ``decode_batch_rows``
        only when that many of them wait; the rest are written as partial batches at each slice."""
        if not records:
            return
        step = max(POLL_RECORDS, self._batch_rows)
        for start in range(0, len(records), step):
            self._decoder.add_all(records[start : start + step])
            if self._decoder.pending_rows >= self._batch_rows:
                self._write(self._decoder.flush())
        self.stats.records += len(records)
        self.last_seq = records[-1].seq
        self.last_recv_ns = records[-1].recv_ns

    def _write(self, batches: list[Batch]) -> None:
        self.stats.rows += sum(b.table.num_rows for b in batches)
        gaps = [gap for b in batches if b.channel == "trade" for gap in self.chains.feed(b)]
        self.stats.gaps += write_gaps(self.root, self.worker_id, gaps)
        self._sink.write(batches)
        self._quarantine(self._decoder.take_quarantine())

    def _quarantine(self, items: list[Quarantined]) -> None:
        by_day: dict[dt.date, list[Quarantined]] = defaultdict(list)
        for item in items:
            by_day[self._days.of(item.recv_ns)].append(item)  # the journal's day
            self.stats.quarantine_reasons[item.reason] = self.stats.quarantine_reasons.get(item.reason, 0) + 1
        for day, day_items in sorted(by_day.items()):
            self.stats.quarantined += write_quarantine(self.root, day, self.worker_id, day_items)

    def flush_without_checkpoint(self) -> None:
        """Write what is buffered without recording it (a crash right after leaves exactly this)."""
        self._write(self._decoder.flush())
        self._sink.flush()

    def checkpoint(self) -> None:
        """Write everything decoded so far, then record how far that is."""
        self.flush_without_checkpoint()
        self.stats.files = len(self._sink.written)
        write_checkpoint(
            self.root, self.worker_id, self.last_seq, self.chains.state(), self._decoder.phases_state()
        )


def follow(
    tail: JournalTail,
    store: Store,
    *,
    stop_requested: Iterator[bool],
    checkpoint_every_s: float = 300.0,
    now: Callable[[], float] = time.monotonic,
) -> None:
    """Feed the store from the tail until ``stop_requested`` yields True and the tail is drained.

    ``stop_requested`` is advanced once per poll, or per ``BACKLOG_S`` of full polls while the
    store catches up; it also paces polls (the caller's iterator sleeps). A checkpoint (every
    buffer written to Parquet) comes every ``checkpoint_every_s`` and at the end: often enough
    that a restart re-decodes little, seldom enough that a day is not thousands of small files
    (busy partitions are written earlier, at the sink's row bounds, anyway).
    """
    next_checkpoint = now() + checkpoint_every_s
    for stop in stop_requested:
        busy_until = now() + BACKLOG_S
        while True:
            records = tail.poll()
            store.add(records)
            if now() >= next_checkpoint:
                store.checkpoint()
                next_checkpoint = now() + checkpoint_every_s
            if len(records) < POLL_RECORDS or now() >= busy_until:
                break  # caught up, or time to let the caller's iterator run (status file, pace)
        if stop and not records:
            break  # asked to stop before this poll, and it found nothing more: drained
    store.checkpoint()
    store.stats.damaged_blocks = len(tail.damage)
    tail.close()
