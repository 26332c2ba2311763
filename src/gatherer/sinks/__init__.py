"""sinks: decoded batches to disk (Parquet partitions, quarantine lines, the day's masters).

Public API; see ``gatherer.sinks.parquet`` for the layout and docs/formats.md for the formats.
"""

from gatherer.sinks.masters import master_path, write_master
from gatherer.sinks.parquet import (
    BatchLike,
    ParquetSink,
    ParquetSinkError,
    QuarantineLike,
    WrittenFile,
    partition_dir,
    quarantine_path,
    write_quarantine,
)
from gatherer.sinks.partitions import file_metadata, partition_files, read_partition

__all__ = [
    "BatchLike",
    "ParquetSink",
    "ParquetSinkError",
    "QuarantineLike",
    "WrittenFile",
    "file_metadata",
    "master_path",
    "partition_dir",
    "partition_files",
    "quarantine_path",
    "read_partition",
    "write_master",
    "write_quarantine",
]
