"""One Parquet file of the sink, written whole or as sorted runs into its open temporary.

``ParquetSink`` (``sinks.parquet``) decides what goes where; this module only writes. A file the
sink writes in one go (the usual case) is written exactly as before, by ``write_whole``. When
memory forces a partition's buffer out early, the sink opens a ``RunFile`` instead: each spill is
one more run, sorted by (symbol, recv_ns, seq), appended as row groups to the still hidden
``.<worker>-<NNNN>.parquet.tmp``; the file is finished (footer, fsync, rename, directory fsync)
only when the sink flushes (the store's checkpoint) or the file reaches ``rotate_rows``. What is
known only at the end (rows, seq range, the runs' lengths) goes into the footer then, both as
Parquet key-value metadata and in the stored Arrow schema, so every reader sees the same keys.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gatherer.files import fsync_dir
from gatherer.sinks.encoding import writer_options

META = "gatherer."
SORT_KEYS = ("symbol", "recv_ns", "seq")
RUN_ROWS_KEY = "run_rows"
"""``gatherer.run_rows``: rows per sorted run, comma-separated; only in a file of two or more runs."""


def sort_run(table: pa.Table) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in SORT_KEYS if k in table.column_names])


def seq_range(table: pa.Table) -> tuple[int, int]:
    seq = pc.min_max(table["seq"])
    return int(seq["min"].as_py()), int(seq["max"].as_py())


def with_meta(schema: pa.Schema, meta: dict[str, str]) -> pa.Schema:
    """``schema`` with ``gatherer.<key>`` entries added to (or replacing) its metadata."""
    merged = dict(schema.metadata or {})
    merged.update({f"{META}{k}".encode(): v.encode() for k, v in meta.items()})
    return schema.with_metadata(merged)


def _publish(tmp: Path, final: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    if final.exists():  # another process claimed the name: never overwrite a file
        raise FileExistsError(final)
    os.rename(tmp, final)
    fsync_dir(final.parent)


def write_whole(table: pa.Table, tmp: Path, final: Path, row_group_rows: int) -> None:
    """Write a sorted table (its schema metadata complete) to ``tmp``, then rename it to ``final``.

    On failure ``tmp`` is removed and the error raised (``OSError`` or ``pa.ArrowException``).
    """
    try:
        pq.write_table(table, tmp, row_group_size=row_group_rows, **writer_options(table.schema))
        _publish(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class RunFile:
    """A file being written run by run into its temporary; nothing is visible until ``commit``.

    ``schema`` carries the metadata known when the file is opened; ``commit`` adds rows, seq_min,
    seq_max (and run_rows when there is more than one run). A process that dies before ``commit``
    leaves only the temporary, which the sink removes when it next writes to the directory.
    """

    def __init__(self, final: Path, tmp: Path, schema: pa.Schema, row_group_rows: int) -> None:
        self.final, self.tmp, self.schema = final, tmp, schema
        self.row_group_rows = row_group_rows
        self.runs: list[int] = []
        self.seq_min: int | None = None
        self.seq_max: int | None = None
        try:
            self._writer: pq.ParquetWriter | None = pq.ParquetWriter(tmp, schema, **writer_options(schema))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @property
    def rows(self) -> int:
        return sum(self.runs)

    def write_run(self, table: pa.Table) -> None:
        """Append the rows as one run, sorted, in row groups of at most ``row_group_rows``."""
        assert self._writer is not None, "write_run after commit or abort"
        if table.num_rows == 0:
            return
        table = sort_run(table).replace_schema_metadata(self.schema.metadata)
        lo, hi = seq_range(table)
        try:
            self._writer.write_table(table, row_group_size=self.row_group_rows)
        except BaseException:
            self.abort()
            raise
        self.runs.append(table.num_rows)
        self.seq_min = lo if self.seq_min is None else min(self.seq_min, lo)
        self.seq_max = hi if self.seq_max is None else max(self.seq_max, hi)

    def commit(self) -> pa.Schema:
        """Finish the footer, fsync, rename into place; returns the schema with every key."""
        assert self._writer is not None and self.seq_min is not None and self.seq_max is not None
        tail = {"rows": str(self.rows), "seq_min": str(self.seq_min), "seq_max": str(self.seq_max)}
        if len(self.runs) > 1:
            tail[RUN_ROWS_KEY] = ",".join(str(n) for n in self.runs)
        full = with_meta(self.schema, tail)
        # The stored Arrow schema is written again with every key, as pq.write_table would have
        # written it, so pq.read_schema / read_table see what the footer's key-value pairs say.
        arrow_schema = base64.b64encode(full.serialize().to_pybytes()).decode("ascii")
        try:
            self._writer.add_key_value_metadata(
                {**{f"{META}{k}": v for k, v in tail.items()}, "ARROW:schema": arrow_schema}
            )
            self._writer.close()
            self._writer = None
            _publish(self.tmp, self.final)
        except BaseException:
            self.abort()
            raise
        return full

    def abort(self) -> None:
        """Drop the file: close the writer if it is open and remove the temporary."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except (OSError, pa.ArrowException):
                pass  # the temporary goes anyway
        self.tmp.unlink(missing_ok=True)
