"""sinks: decoded batches to disk (Parquet partitions, quarantine lines, the day's masters).

Public API; see ``gatherer.sinks.parquet`` for the layout and docs/formats.md for the formats.
"""

from gatherer.sinks.masters import master_path, read_master, write_master
from gatherer.sinks.parquet import (
    BatchLike,
    DecodeRecords,
    ParquetSink,
    ParquetSinkError,
    QuarantineLike,
    RebuildReport,
    WrittenFile,
    compare_days,
    file_metadata,
    partition_dir,
    partition_files,
    quarantine_path,
    read_partition,
    read_quarantine,
    rebuild_day,
    write_quarantine,
)

__all__ = [
    "BatchLike",
    "DecodeRecords",
    "ParquetSink",
    "ParquetSinkError",
    "QuarantineLike",
    "RebuildReport",
    "WrittenFile",
    "compare_days",
    "file_metadata",
    "master_path",
    "partition_dir",
    "partition_files",
    "quarantine_path",
    "read_master",
    "read_partition",
    "read_quarantine",
    "rebuild_day",
    "write_master",
    "write_quarantine",
]
