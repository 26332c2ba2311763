"""The Parquet sink: decoded batches -> day / market / channel partitions, plus quarantine lines.

Its job is to put typed tables on disk so that no reader ever sees half a file and a rebuild from
the journal lands on the same rows. It treats batches as tables: it never parses a frame and never
imports the decoder (the ``Batch`` shape is a Protocol here).

Layout, format version 1 (repeated in docs/formats.md, "Parquet layout")::

    <root>/parquet/date=YYYY-MM-DD/market=<market>/channel=<channel>/<worker>-<NNNN>.parquet
    <root>/quarantine/date=YYYY-MM-DD/<worker>.jsonl

- ``date=`` is the row's ``trading_day`` column: a batch that straddles the cutoff is split and
  each part goes to its own day. ``NNNN`` counts a worker's files in one partition directory,
  continuing after files already there (a restarted worker never overwrites).
- One file holds one TR (one schema). A channel fed by two TRs on one day (legacy ``FH0`` next
  to ``FH9``) gets separate files, told apart by the ``gatherer.tr_cd`` / ``gatherer.layout``
  metadata (and the ``tr_cd`` column).
- Rows in a file are sorted by (symbol, recv_ns, seq); row groups of ``row_group_rows``; columns
  encoded as ``sinks.encoding`` says (zstd 3, ``recv_ns``/``seq`` DELTA_BINARY_PACKED, strings
  dictionary-encoded, numbers PLAIN).
  When memory forced a partition out before its file was due, the file holds several runs, each
  sorted, one after the other (``gatherer.run_rows`` gives their lengths; ``sinks.runfile``).
- A file is written as ``.<worker>-<NNNN>.parquet.tmp`` in the same directory, fsync'd, renamed,
  and the directory fsync'd. The dot keeps it out of globs and pyarrow datasets. A file holding
  spilled runs stays open at its temporary name until ``flush``/``close`` or ``rotate_rows``.
- File key-value metadata (strings): ``gatherer.format`` ("1"), ``gatherer.tr_cd``,
  ``gatherer.layout`` (catalog layout, ``2025-12`` / ``2026``), ``gatherer.collector_version``,
  ``gatherer.venue``, ``gatherer.worker_id``, ``gatherer.trading_day``, ``gatherer.market``,
  ``gatherer.channel``, ``gatherer.rows``, ``gatherer.seq_min``, ``gatherer.seq_max`` (and
  ``gatherer.run_rows`` in a file of several runs).

Writes block on disk: call the sink from a thread (``asyncio.to_thread``), not from the loop.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gatherer.errors import GathererError
from gatherer.files import append_jsonl
from gatherer.sinks.runfile import META as META
from gatherer.sinks.runfile import RUN_ROWS_KEY as RUN_ROWS_KEY
from gatherer.sinks.runfile import SORT_KEYS as SORT_KEYS
from gatherer.sinks.runfile import RunFile, seq_range, sort_run, with_meta, write_whole

FORMAT_VERSION = "1"
QUARANTINE_VERSION = 1
REQUIRED_COLUMNS = ("recv_ns", "trading_day", "symbol", "seq")

DEFAULT_ROW_GROUP_ROWS = 131_072
DEFAULT_ROTATE_ROWS = 1_048_576
DEFAULT_MAX_BUFFERED_ROWS = 4_194_304


class ParquetSinkError(GathererError):
    """A batch could not be stored or a partition could not be read; the message says which."""


@runtime_checkable
class BatchLike(Protocol):
    """What the decoder hands over: one TR's rows for one market and channel. The table's schema
    metadata names the TR's catalog ``layout`` (``decode.schema``), which each file records."""

    @property
    def tr_cd(self) -> str: ...
    @property
    def market(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def table(self) -> pa.Table: ...


@runtime_checkable
class QuarantineLike(Protocol):
    """A frame that did not decode, with why."""

    @property
    def reason(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def recv_ns(self) -> int: ...
    @property
    def conn_id(self) -> str: ...
    @property
    def tr_cd(self) -> str | None: ...
    @property
    def payload(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """One complete file the sink renamed into place."""

    path: Path
    tr_cd: str
    trading_day: dt.date
    market: str
    channel: str
    rows: int
    seq_min: int
    seq_max: int


PartitionKey = tuple[dt.date, str, str, str]
"""(trading_day, market, channel, tr_cd): one buffer, one schema, one file series."""


@dataclass(slots=True)
class _Buffer:
    schema: pa.Schema
    tables: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0
    file: RunFile | None = None
    """The partition's open file, once memory pressure spilled runs into it."""


def partition_dir(root: Path | str, day: dt.date, market: str, channel: str) -> Path:
    return Path(root) / "parquet" / f"date={day.isoformat()}" / f"market={market}" / f"channel={channel}"


def quarantine_path(root: Path | str, day: dt.date, worker_id: str) -> Path:
    return Path(root) / "quarantine" / f"date={day.isoformat()}" / f"{worker_id}.jsonl"


class ParquetSink:
    """Buffers decoded batches per (trading_day, market, channel, tr_cd) and writes sorted files.

    A file is finished when its partition reaches ``rotate_rows`` (exactly that many rows per
    file) and on ``flush`` / ``close``. When all buffers together pass ``max_buffered_rows`` or
    ``max_buffered_bytes``, the largest buffer is spilled: written as one sorted run into its
    partition's open file (opened at its temporary name if need be), which stays invisible until
    it is finished. Files depend only on the sequence of batches given, so replaying the same
    batches gives the same files.
    """

    def __init__(
        self,
        root: Path | str,
        worker_id: str,
        *,
        version: str,
        venue: str,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        rotate_rows: int = DEFAULT_ROTATE_ROWS,
        max_buffered_rows: int = DEFAULT_MAX_BUFFERED_ROWS,
        max_buffered_bytes: int | None = None,
    ) -> None:
        if row_group_rows < 1 or rotate_rows < 1 or max_buffered_rows < 1:
            raise ValueError("row_group_rows, rotate_rows and max_buffered_rows must be positive")
        if max_buffered_bytes is not None and max_buffered_bytes < 1:
            raise ValueError("max_buffered_bytes must be positive")
        self.root = Path(root)
        self.worker_id = worker_id
        self.version = version
        self.venue = venue
        self.row_group_rows = row_group_rows
        self.rotate_rows = rotate_rows
        self.max_buffered_rows = max_buffered_rows
        self.max_buffered_bytes = max_buffered_bytes
        """Also bound the buffers' Arrow bytes (wide TRs make rows a poor measure of memory)."""
        self.written: list[WrittenFile] = []
        self._buffers: dict[PartitionKey, _Buffer] = {}
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._next_number: dict[Path, int] = {}
        self._name = re.compile(rf"{re.escape(worker_id)}-(\d+)\.parquet")

    @property
    def buffered_rows(self) -> int:
        return self._buffered_rows

    def write(self, batches: Iterable[BatchLike]) -> None:
        for batch in batches:
            table = batch.table
            if table.num_rows == 0:
                continue
            missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
            if missing:
                raise ParquetSinkError(
                    f"{batch.tr_cd} batch for {batch.market}/{batch.channel} lacks {missing}"
                )
            for day, part in _split_by_day(table, batch.tr_cd):
                self._add((day, batch.market, batch.channel, batch.tr_cd), part)

    def flush(self) -> None:
        """Write every buffer to a file now (partial files; a live run may call it on a timer)."""
        for key in sorted(self._buffers):
            self._drain(key)

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- buffering ---------------------------------------------------------------------------

    def _add(self, key: PartitionKey, part: pa.Table) -> None:
        buf = self._buffers.get(key)
        if buf is not None and not buf.schema.equals(part.schema, check_metadata=False):
            self._drain(key)  # one file, one schema: a changed schema starts a new file
            buf = None
        if buf is None:
            buf = self._buffers[key] = _Buffer(part.schema)
        buf.tables.append(part)
        buf.rows += part.num_rows
        buf.nbytes += part.nbytes
        self._buffered_rows += part.num_rows
        self._buffered_bytes += part.nbytes
        while (in_file := buf.file.rows if buf.file else 0) + buf.rows >= self.rotate_rows:
            table = pa.concat_tables(buf.tables)
            take = self.rotate_rows - in_file
            self._finish(key, buf, table.slice(0, take))
            rest = table.slice(take)
            buf.tables = [rest] if rest.num_rows else []
            buf.rows -= take
            self._buffered_rows -= take
            self._buffered_bytes += rest.nbytes - buf.nbytes
            buf.nbytes = rest.nbytes
        while self._buffered_rows > self.max_buffered_rows:
            if not self._spill(max(self._buffers, key=lambda k: (self._buffers[k].rows, k))):
                break
        cap = self.max_buffered_bytes
        while cap is not None and self._buffered_bytes > cap:
            if not self._spill(max(self._buffers, key=lambda k: (self._buffers[k].nbytes, k))):
                break

    def _take(self, buf: _Buffer) -> pa.Table | None:
        """Empty a buffer, returning its rows as one table (None when it held none)."""
        self._buffered_rows -= buf.rows
        self._buffered_bytes -= buf.nbytes
        tables, buf.tables, buf.rows, buf.nbytes = buf.tables, [], 0, 0
        return pa.concat_tables(tables) if tables else None

    def _drain(self, key: PartitionKey) -> None:
        """Finish the partition's file with everything buffered; forget the partition."""
        buf = self._buffers.pop(key, None)
        if buf is None:
            return
        table = self._take(buf)
        if table is not None or buf.file is not None:
            self._finish(key, buf, table)

    def _spill(self, key: PartitionKey) -> bool:
        """Memory pressure: the partition's buffer goes to its open file as one sorted run.

        Returns False when the buffer was already empty (nothing left to spill)."""
        buf = self._buffers[key]
        table = self._take(buf)
        if table is None:
            return False
        if buf.file is None:
            final, tmp = self._claim_path(self._directory(key))
            schema = with_meta(buf.schema, self._head_meta(key, buf.schema))
            try:
                buf.file = RunFile(final, tmp, schema, self.row_group_rows)
            except (OSError, pa.ArrowException) as e:
                raise ParquetSinkError(f"could not write {final}: {e}") from e
        try:
            buf.file.write_run(table)
        except (OSError, pa.ArrowException) as e:
            final, buf.file = buf.file.final, None
            raise ParquetSinkError(f"could not write {final}: {e}") from e
        return True

    # -- files ---------------------------------------------------------------------------------

    def _directory(self, key: PartitionKey) -> Path:
        day, market, channel, _ = key
        directory = partition_dir(self.root, day, market, channel)
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _claim_path(self, directory: Path) -> tuple[Path, Path]:
        n = self._next_number.get(directory)
        if n is None:
            n = 1
            for p in directory.iterdir():
                m = self._name.fullmatch(p.name)
                if m:
                    n = max(n, int(m.group(1)) + 1)
                elif p.name.startswith(f".{self.worker_id}-") and p.name.endswith(".parquet.tmp"):
                    p.unlink()  # our own leftover from a crash: never renamed, never seen
        self._next_number[directory] = n + 1
        name = f"{self.worker_id}-{n:04d}.parquet"
        return directory / name, directory / f".{name}.tmp"

    def _head_meta(self, key: PartitionKey, schema: pa.Schema) -> dict[str, str]:
        """The file metadata known before the rows are: everything but rows and the seq range."""
        day, market, channel, tr_cd = key
        return {
            "format": FORMAT_VERSION,
            "tr_cd": tr_cd,
            "layout": (schema.metadata or {}).get(b"layout", b"unknown").decode(),
            "collector_version": self.version,
            "venue": self.venue,
            "worker_id": self.worker_id,
            "trading_day": day.isoformat(),
            "market": market,
            "channel": channel,
        }

    def _finish(self, key: PartitionKey, buf: _Buffer, table: pa.Table | None) -> None:
        """Write the partition's file: ``table`` is its last run (or all of it), then rename."""
        day, market, channel, tr_cd = key
        run_file, buf.file = buf.file, None
        if run_file is None:
            assert table is not None
            rows, (seq_min, seq_max), final = table.num_rows, seq_range(table), self._write_whole(key, table)
        else:
            final = run_file.final
            try:
                if table is not None:
                    run_file.write_run(table)
                run_file.commit()
            except (OSError, pa.ArrowException) as e:
                raise ParquetSinkError(f"could not write {final}: {e}") from e
            assert run_file.seq_min is not None and run_file.seq_max is not None
            rows, seq_min, seq_max = run_file.rows, run_file.seq_min, run_file.seq_max
        self.written.append(WrittenFile(final, tr_cd, day, market, channel, rows, seq_min, seq_max))

    def _write_whole(self, key: PartitionKey, table: pa.Table) -> Path:
        """A file written in one go, one sorted run (the case without memory pressure)."""
        final, tmp = self._claim_path(self._directory(key))
        table = sort_run(table)
        seq_min, seq_max = seq_range(table)
        meta = self._head_meta(key, table.schema)
        meta.update({"rows": str(table.num_rows), "seq_min": str(seq_min), "seq_max": str(seq_max)})
        table = table.replace_schema_metadata(with_meta(table.schema, meta).metadata)
        try:
            write_whole(table, tmp, final, self.row_group_rows)
        except (OSError, pa.ArrowException) as e:
            raise ParquetSinkError(f"could not write {final}: {e}") from e
        return final


def _split_by_day(table: pa.Table, tr_cd: str) -> Iterator[tuple[dt.date, pa.Table]]:
    days = table["trading_day"]
    if days.null_count:
        raise ParquetSinkError(f"{tr_cd} batch has rows without a trading_day")
    unique = pc.unique(days).to_pylist()
    if len(unique) == 1:
        yield unique[0], table
        return
    for day in sorted(unique):
        yield day, table.filter(pc.equal(days, pa.scalar(day, days.type)))


# ---------------------------------------------------------------------------------------------
# Quarantine: one JSON object per line, appended and fsync'd.
# ---------------------------------------------------------------------------------------------


def quarantine_line(item: QuarantineLike) -> dict[str, object]:
    try:
        payload, encoding = item.payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(item.payload).decode("ascii"), "base64"
    return {
        "v": QUARANTINE_VERSION,
        "reason": item.reason,
        "detail": item.detail,
        "seq": item.seq,
        "recv_ns": item.recv_ns,
        "conn_id": item.conn_id,
        "tr_cd": item.tr_cd,
        "payload_encoding": encoding,
        "payload": payload,
    }


def write_quarantine(root: Path | str, day: dt.date, worker_id: str, items: Iterable[QuarantineLike]) -> int:
    """Append items to ``quarantine/date=DAY/<worker>.jsonl``; returns how many were written.

    A line torn by a crash is closed with a newline before appending, so it spoils only itself.
    """
    lines = [json.dumps(quarantine_line(i), ensure_ascii=False) + "\n" for i in items]
    return append_jsonl(quarantine_path(root, day, worker_id), lines)


def file_metadata(path: Path) -> dict[str, str]:
    """The ``gatherer.*`` key-value metadata of one file (footer only)."""
    kv = pq.read_metadata(path).metadata or {}
    return {k.decode()[len(META) :]: v.decode() for k, v in kv.items() if k.startswith(META.encode())}
