"""Reading the Parquet partitions back: one day's files of a market and channel, their metadata,
and the rows as one sorted table (``gatherer.reader``, the export and the comparisons use it). The
layout is ``gatherer.sinks.parquet``'s."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from gatherer.sinks.parquet import SORT_KEYS, ParquetSinkError, partition_dir


def partition_files(root: Path | str, day: dt.date, market: str, channel: str) -> list[Path]:
    d = partition_dir(root, day, market, channel)
    return sorted(d.glob("*.parquet")) if d.is_dir() else []


def read_partition(
    root: Path | str,
    day: dt.date,
    market: str,
    channel: str,
    *,
    symbols: Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
) -> pa.Table:
    """One day's rows of a market and channel, sorted by (symbol, recv_ns, seq).

    Files with different schemas (two TRs on one channel) are read separately and combined by
    column name; a column one TR lacks is null there and decimals widen to the larger precision.
    """
    files = partition_files(root, day, market, channel)
    if not files:
        raise ParquetSinkError(
            f"no Parquet files for {market}/{channel} on {day.isoformat()} under {Path(root) / 'parquet'}"
        )
    groups: dict[bytes, tuple[pa.Schema, list[Path]]] = {}
    for f in files:
        schema = pq.read_schema(f).remove_metadata()
        groups.setdefault(schema.serialize().to_pybytes(), (schema, []))[1].append(f)
    wanted = list(columns) if columns is not None else None
    every = {n for schema, _ in groups.values() for n in schema.names}
    if wanted is not None:
        unknown = [c for c in wanted if c not in every]
        if unknown:
            raise ParquetSinkError(f"{market}/{channel} has no column(s) {unknown}; it has {sorted(every)}")
    filt = None if symbols is None else ds.field("symbol").isin(list(symbols))
    parts = []
    for schema, paths in groups.values():
        present = (
            schema.names if wanted is None else [c for c in schema.names if c in wanted or c in SORT_KEYS]
        )
        dataset = ds.dataset([str(p) for p in paths], schema=schema, format="parquet")
        parts.append(dataset.to_table(columns=present, filter=filt))
    table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    table = table.sort_by([(k, "ascending") for k in SORT_KEYS if k in table.column_names])
    if wanted is not None:
        table = table.select(wanted)
    return table.replace_schema_metadata(None)
