"""The day's symbol masters on disk: ``masters/date=YYYY-MM-DD/<market>.parquet``.

Each day's data carries the instrument list it was captured with. Written to a
temporary name in the same directory, fsync'd, then renamed: no reader sees half a
file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from gatherer.files import write_parquet_atomic


def master_path(root: Path | str, day: dt.date, market: str) -> Path:
    return Path(root) / "masters" / f"date={day.isoformat()}" / f"{market}.parquet"


def write_master(root: Path | str, day: dt.date, market: str, table: pa.Table) -> Path:
    """Store one market's master for a trading day, replacing an earlier copy of that day."""
    path = master_path(root, day, market)
    write_parquet_atomic(table, path)
    return path
