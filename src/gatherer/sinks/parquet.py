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
- Rows in a file are sorted by (symbol, recv_ns, seq); zstd; row groups of ``row_group_rows``;
  ``recv_ns`` and ``seq`` DELTA_BINARY_PACKED, every other column dictionary-encoded where it pays.
- A file is written as ``.<worker>-<NNNN>.parquet.tmp`` in the same directory, fsync'd, renamed,
  and the directory fsync'd. The dot keeps it out of globs and pyarrow datasets.
- File key-value metadata (strings): ``gatherer.format`` ("1"), ``gatherer.tr_cd``,
  ``gatherer.layout`` (catalog layout, ``2025-12`` / ``2026``), ``gatherer.collector_version``,
  ``gatherer.venue``, ``gatherer.worker_id``, ``gatherer.trading_day``, ``gatherer.market``,
  ``gatherer.channel``, ``gatherer.rows``, ``gatherer.seq_min``, ``gatherer.seq_max``.

Writes block on disk: call the sink from a thread (``asyncio.to_thread``), not from the loop.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gatherer.errors import GathererError
from gatherer.files import append_jsonl, fsync_dir

FORMAT_VERSION = "1"
QUARANTINE_VERSION = 1
META = "gatherer."
SORT_KEYS = ("symbol", "recv_ns", "seq")
REQUIRED_COLUMNS = ("recv_ns", "trading_day", "symbol", "seq")
_DELTA_COLUMNS = ("recv_ns", "seq")
"""Written with Parquet's DELTA_BINARY_PACKED encoding instead of a dictionary."""

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


def partition_dir(root: Path | str, day: dt.date, market: str, channel: str) -> Path:
    return Path(root) / "parquet" / f"date={day.isoformat()}" / f"market={market}" / f"channel={channel}"


def quarantine_path(root: Path | str, day: dt.date, worker_id: str) -> Path:
    return Path(root) / "quarantine" / f"date={day.isoformat()}" / f"{worker_id}.jsonl"


class ParquetSink:
    """Buffers decoded batches per (trading_day, market, channel, tr_cd) and writes sorted files.

    A buffer is written when it reaches ``rotate_rows`` (exactly that many rows per file), when
    all buffers together pass ``max_buffered_rows`` (the largest is written), and on ``flush`` /
    ``close``. Files depend only on the sequence of rows given, so replaying the same batches
    gives the same files.
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
        while buf.rows >= self.rotate_rows:
            table = pa.concat_tables(buf.tables)
            self._write_file(key, table.slice(0, self.rotate_rows))
            rest = table.slice(self.rotate_rows)
            buf.tables = [rest] if rest.num_rows else []
            buf.rows -= self.rotate_rows
            self._buffered_rows -= self.rotate_rows
            self._buffered_bytes += rest.nbytes - buf.nbytes
            buf.nbytes = rest.nbytes
        while self._buffered_rows > self.max_buffered_rows:
            self._drain(max(self._buffers, key=lambda k: (self._buffers[k].rows, k)))
        cap = self.max_buffered_bytes
        while cap is not None and self._buffered_bytes > cap:
            self._drain(max(self._buffers, key=lambda k: (self._buffers[k].nbytes, k)))

    def _drain(self, key: PartitionKey) -> None:
        buf = self._buffers.pop(key, None)
        if buf is None or buf.rows == 0:
            return
        self._buffered_rows -= buf.rows
        self._buffered_bytes -= buf.nbytes
        self._write_file(key, pa.concat_tables(buf.tables))

    # -- files ---------------------------------------------------------------------------------

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

    def _write_file(self, key: PartitionKey, table: pa.Table) -> None:
        day, market, channel, tr_cd = key
        directory = partition_dir(self.root, day, market, channel)
        directory.mkdir(parents=True, exist_ok=True)
        final, tmp = self._claim_path(directory)
        table = table.sort_by([(k, "ascending") for k in SORT_KEYS if k in table.column_names])
        seq = pc.min_max(table["seq"])
        seq_min, seq_max = int(seq["min"].as_py()), int(seq["max"].as_py())
        layout = (table.schema.metadata or {}).get(b"layout", b"unknown").decode()
        meta = {
            "format": FORMAT_VERSION,
            "tr_cd": tr_cd,
            "layout": layout,
            "collector_version": self.version,
            "venue": self.venue,
            "worker_id": self.worker_id,
            "trading_day": day.isoformat(),
            "market": market,
            "channel": channel,
            "rows": str(table.num_rows),
            "seq_min": str(seq_min),
            "seq_max": str(seq_max),
        }
        merged = dict(table.schema.metadata or {})
        merged.update({f"{META}{k}".encode(): v.encode() for k, v in meta.items()})
        table = table.replace_schema_metadata(merged)
        try:
            pq.write_table(
                table,
                tmp,
                compression="zstd",
                row_group_size=self.row_group_rows,
                write_statistics=True,
                # Sorted by symbol then receive time: recv_ns and seq climb within each symbol, so
                # their deltas are small (about 4 B/row less than dictionary + zstd); the rest as before.
                use_dictionary=[n for n in table.column_names if n not in _DELTA_COLUMNS],
                column_encoding={n: "DELTA_BINARY_PACKED" for n in _DELTA_COLUMNS if n in table.column_names},
            )
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            if final.exists():  # another process claimed the name: never overwrite a file
                raise FileExistsError(final)
            os.rename(tmp, final)
            fsync_dir(directory)
        except (OSError, pa.ArrowException) as e:
            tmp.unlink(missing_ok=True)
            raise ParquetSinkError(f"could not write {final}: {e}") from e
        self.written.append(WrittenFile(final, tr_cd, day, market, channel, table.num_rows, seq_min, seq_max))


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
