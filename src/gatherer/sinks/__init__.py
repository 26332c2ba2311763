"""sinks: decoded batches to disk (Parquet partitions, quarantine lines, the day's masters).

Public API; see ``gatherer.sinks.parquet`` for the layout and docs/formats.md for the formats.
"""

from typing import Any

from gatherer.sinks.masters import master_path, write_master
from gatherer.sinks.parquet import (
    BatchLike,
    ParquetSink,
    ParquetSinkError,
    QuarantineLike,
    WrittenFile,
    file_metadata,
    partition_dir,
    quarantine_path,
    write_quarantine,
)

_READING = ("partition_files", "read_partition")
"""From ``partitions``, imported on first use: reading pulls in pyarrow.dataset (and pandas), which
the writing processes never need."""


def __getattr__(name: str) -> Any:
    if name in _READING:
        from gatherer.sinks import partitions

        return getattr(partitions, name)
    raise AttributeError(f"module 'gatherer.sinks' has no attribute {name!r}")


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
