"""capture: the journal. Raw frames are appended before anything parses them, made durable in
groups, read back, recovered after a crash and pruned once their day is safely in Parquet.

Format (version 1): ``segment.py`` and docs/formats.md, "Journal".
"""

from gatherer.capture.disk import JournalFailed
from gatherer.capture.journal import Journal
from gatherer.capture.recover import (
    Damage,
    PruneReport,
    RecoveryReport,
    VerifyReport,
    iter_records,
    journal_days,
    list_segments,
    prune_journal,
    recover_segment,
    scan_file,
    verify,
)
from gatherer.capture.segment import (
    FORMAT_VERSION,
    Block,
    Corrupt,
    Kind,
    Record,
    SegmentHeader,
    SegmentScanner,
    TornTail,
)
from gatherer.capture.settings import JournalSettings
from gatherer.capture.writer import segment_path, worker_segments

__all__ = [
    "FORMAT_VERSION",
    "Block",
    "Corrupt",
    "Damage",
    "Journal",
    "JournalFailed",
    "JournalSettings",
    "Kind",
    "PruneReport",
    "Record",
    "RecoveryReport",
    "SegmentHeader",
    "SegmentScanner",
    "TornTail",
    "VerifyReport",
    "iter_records",
    "journal_days",
    "list_segments",
    "prune_journal",
    "recover_segment",
    "scan_file",
    "segment_path",
    "verify",
    "worker_segments",
]
