"""Reading journal segments back: recovery, iteration, verification and retention.

Everything here reads segments in the version-1 format of ``segment.py`` by feeding file bytes to
``SegmentScanner``; damage is reported as data (offsets, lengths, records lost), never raised, so
one bad block cannot hide the records after it. Only ``recover_segment`` writes: it truncates a
torn tail. Only ``prune_journal`` deletes, and only days the caller says are safely in Parquet.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gatherer.capture.segment import (
    SEGMENT_SUFFIX,
    Block,
    Corrupt,
    Item,
    Record,
    SegmentHeader,
    SegmentScanner,
    TornTail,
)

log = logging.getLogger(__name__)

_READ_BYTES = 4 * 1024 * 1024
_DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True, slots=True)
class Damage:
    """A damaged region of a segment: mid-file corruption or a torn tail."""

    path: Path
    offset: int
    length: int
    reason: str
    records_lost: int | None


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What ``recover_segment`` found and did."""

    path: Path
    header: SegmentHeader | None
    blocks: int
    records: int
    end_seq: int
    """Sequence number after the last good record (the segment's first_seq when it has none)."""
    corrupt: tuple[Damage, ...]
    truncated_bytes: int
    torn_records: int
    """Records known lost in the torn tail (from block headers that survived); a lower bound."""
    size_after: int


@dataclass(slots=True)
class VerifyReport:
    """Counts and damage for one segment or a tree of them; ``ok`` when nothing is damaged."""

    segments: int = 0
    blocks: int = 0
    records: int = 0
    bytes_on_disk: int = 0
    raw_bytes: int = 0
    corrupt: list[Damage] = field(default_factory=list)
    torn_tails: list[Damage] = field(default_factory=list)
    bad_headers: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.torn_tails or self.bad_headers)


def list_segments(path: Path | str) -> list[Path]:
    """A segment file itself, or every segment under a directory, in (day, worker, number) order."""
    p = Path(path)
    if p.is_file():
        return [p]
    return sorted(p.rglob(f"*{SEGMENT_SUFFIX}"), key=lambda s: (s.parent.name, s.name))


def scan_file(path: Path, *, decode: bool = True) -> Iterator[Item]:
    """Every item of one segment file, ending with a TornTail when the file ends mid-item."""
    scanner = SegmentScanner(decode=decode)
    with open(path, "rb") as f:
        while chunk := f.read(_READ_BYTES):
            yield from scanner.feed(chunk)
    yield from scanner.finish()


def recover_segment(path: Path | str) -> RecoveryReport:
    """Check every block of a segment and truncate a torn tail; mid-file damage is only reported."""
    p = Path(path)
    header: SegmentHeader | None = None
    blocks = records = 0
    end_seq = 0
    corrupt: list[Damage] = []
    tail: TornTail | None = None
    for item in scan_file(p, decode=False):
        if isinstance(item, SegmentHeader):
            header = item
            end_seq = item.first_seq
        elif isinstance(item, Block):
            blocks += 1
            records += item.record_count
            end_seq = item.end_seq
        elif isinstance(item, Corrupt):
            corrupt.append(Damage(p, item.offset, item.length, item.reason, item.records_lost))
            log.error(
                "Journal block corrupt; records after it are still read.",
                extra={"file": str(p), "offset": item.offset, "reason": item.reason},
            )
        else:
            tail = item
    size = p.stat().st_size
    truncated = 0
    if tail is not None and header is not None:
        truncated = tail.length
        size = tail.offset
        with open(p, "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())
        log.warning(
            "Journal torn tail truncated.",
            extra={"file": str(p), "offset": size, "bytes": truncated, "records": tail.records_lost},
        )
    return RecoveryReport(
        p,
        header,
        blocks,
        records,
        end_seq,
        tuple(corrupt),
        truncated,
        0 if tail is None else tail.records_lost,
        size,
    )


def iter_records(
    path_or_dir: Path | str,
    *,
    keep: Callable[[Record], bool] | None = None,
    on_damage: Callable[[Damage], None] | None = None,
) -> Iterator[Record]:
    """Records of a segment or a directory tree of them, in order; damage goes to ``on_damage``.

    With ``keep`` only the records it says yes to (payloads are opaque here: a reader that knows
    the venue's format decides, e.g. ``gatherer journal cat --tr``).
    """
    for seg in list_segments(path_or_dir):
        for item in scan_file(seg):
            if isinstance(item, Block):
                assert item.records is not None
                if keep is None:
                    yield from item.records
                else:
                    yield from (r for r in item.records if keep(r))
            elif isinstance(item, (Corrupt, TornTail)) and on_damage is not None:
                on_damage(_damage(seg, item))


def _damage(path: Path, item: Corrupt | TornTail) -> Damage:
    if isinstance(item, Corrupt):
        return Damage(path, item.offset, item.length, item.reason, item.records_lost)
    return Damage(path, item.offset, item.length, "torn tail", item.records_lost)


def verify(path: Path | str) -> VerifyReport:
    """Read-only check of a segment or tree: counts, sizes, corrupt offsets and torn tails."""
    report = VerifyReport()
    for seg in list_segments(path):
        report.segments += 1
        report.bytes_on_disk += seg.stat().st_size
        saw_header = False
        for item in scan_file(seg):
            if isinstance(item, SegmentHeader):
                saw_header = True
            elif isinstance(item, Block):
                report.blocks += 1
                report.records += item.record_count
                report.raw_bytes += item.raw_len
            elif isinstance(item, Corrupt):
                report.corrupt.append(_damage(seg, item))
            else:
                report.torn_tails.append(_damage(seg, item))
        if not saw_header:
            report.bad_headers.append(seg)
    return report


def journal_days(root: Path | str) -> list[tuple[dt.date, Path]]:
    """(trading day, directory) of every journal day under a storage root, oldest first."""
    days: list[tuple[dt.date, Path]] = []
    base = Path(root) / "journal"
    if not base.is_dir():
        return days
    for d in base.iterdir():
        m = _DAY_DIR.match(d.name)
        if m and d.is_dir():
            days.append((dt.date.fromisoformat(m.group(1)), d))
    return sorted(days)


@dataclass(frozen=True, slots=True)
class PruneReport:
    removed: tuple[dt.date, ...]
    kept_unverified: tuple[dt.date, ...]
    """Old enough to remove, but their Parquet day is not verified yet."""


def prune_journal(
    root: Path | str,
    keep_days: int,
    verified: Callable[[dt.date], bool],
    *,
    today: dt.date,
) -> PruneReport:
    """Remove ``<root>/journal/date=D`` for days D older than ``today - keep_days`` if ``verified(D)``.

    ``today`` is the caller's current trading day, from the run's clock (never the system's here:
    a run on a simulator's clock keeps that clock's days). The journal is the source of truth, so
    a day whose Parquet was not written and verified is never removed.
    """
    if keep_days < 0:
        raise ValueError("keep_days must be >= 0")
    oldest_kept = today - dt.timedelta(days=keep_days)
    removed: list[dt.date] = []
    unverified: list[dt.date] = []
    for day, d in journal_days(root):
        if day >= oldest_kept:
            continue
        if verified(day):
            shutil.rmtree(d)
            removed.append(day)
            log.info("Journal day pruned.", extra={"day": day.isoformat(), "file": str(d)})
        else:
            unverified.append(day)
    return PruneReport(tuple(removed), tuple(unverified))
