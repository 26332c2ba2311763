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
- Rows in a file are sorted by (symbol, recv_ns, seq); zstd; row groups of ``row_group_rows``.
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
import ctypes
import datetime as dt
import errno
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from gatherer.capture.recover import Damage, iter_records, list_segments
from gatherer.capture.segment import Record
from gatherer.errors import GathererError
from gatherer.files import append_jsonl, fsync_dir
from gatherer.venues.ls.catalog import CATALOG

FORMAT_VERSION = "1"
QUARANTINE_VERSION = 1
META = "gatherer."
SORT_KEYS = ("symbol", "recv_ns", "seq")
REQUIRED_COLUMNS = ("recv_ns", "trading_day", "symbol", "seq")

DEFAULT_ROW_GROUP_ROWS = 131_072
DEFAULT_ROTATE_ROWS = 1_048_576
DEFAULT_MAX_BUFFERED_ROWS = 4_194_304


class ParquetSinkError(GathererError):
    """A batch could not be stored or a partition could not be read; the message says which."""


@runtime_checkable
class BatchLike(Protocol):
    """What the decoder hands over: one TR's rows for one market and channel."""

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
    ) -> None:
        if row_group_rows < 1 or rotate_rows < 1 or max_buffered_rows < 1:
            raise ValueError("row_group_rows, rotate_rows and max_buffered_rows must be positive")
        self.root = Path(root)
        self.worker_id = worker_id
        self.version = version
        self.venue = venue
        self.row_group_rows = row_group_rows
        self.rotate_rows = rotate_rows
        self.max_buffered_rows = max_buffered_rows
        self.written: list[WrittenFile] = []
        self._buffers: dict[PartitionKey, _Buffer] = {}
        self._buffered_rows = 0
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
        self._buffered_rows += part.num_rows
        while buf.rows >= self.rotate_rows:
            table = pa.concat_tables(buf.tables)
            self._write_file(key, table.slice(0, self.rotate_rows))
            rest = table.slice(self.rotate_rows)
            buf.tables = [rest] if rest.num_rows else []
            buf.rows -= self.rotate_rows
            self._buffered_rows -= self.rotate_rows
        while self._buffered_rows > self.max_buffered_rows:
            largest = max(self._buffers, key=lambda k: (self._buffers[k].rows, k))
            self._drain(largest)

    def _drain(self, key: PartitionKey) -> None:
        buf = self._buffers.pop(key, None)
        if buf is None or buf.rows == 0:
            return
        self._buffered_rows -= buf.rows
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
        spec = CATALOG.get(tr_cd)
        meta = {
            "format": FORMAT_VERSION,
            "tr_cd": tr_cd,
            "layout": spec.layout if spec is not None else "unknown",
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


def read_quarantine(root: Path | str, day: dt.date) -> list[dict[str, object]]:
    """Every whole quarantine line of a day, all workers, in file then line order."""
    out: list[dict[str, object]] = []
    base = Path(root) / "quarantine" / f"date={day.isoformat()}"
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a crash
    return out


# ---------------------------------------------------------------------------------------------
# Reading a partition: used by gatherer.read, the export and the comparisons.
# ---------------------------------------------------------------------------------------------


def partition_files(root: Path | str, day: dt.date, market: str, channel: str) -> list[Path]:
    d = partition_dir(root, day, market, channel)
    return sorted(d.glob("*.parquet")) if d.is_dir() else []


def file_metadata(path: Path) -> dict[str, str]:
    """The ``gatherer.*`` key-value metadata of one file (footer only)."""
    kv = pq.read_metadata(path).metadata or {}
    return {k.decode()[len(META) :]: v.decode() for k, v in kv.items() if k.startswith(META.encode())}


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


# ---------------------------------------------------------------------------------------------
# Rebuild a day from the journal, and compare two roots' days row for row.
# ---------------------------------------------------------------------------------------------

DecodeRecords = Callable[[Iterable[Record]], Iterable[BatchLike | QuarantineLike]]
"""Turns one worker's journal records (in seq order) into decoded batches and quarantine items."""


@dataclass(frozen=True, slots=True)
class RebuildReport:
    day: dt.date
    workers: tuple[str, ...]
    files: int
    rows: int
    quarantined: int
    rows_outside_day: int
    """Rows the decoder placed on another trading day (a per-market cutoff); not written here."""
    damage: tuple[Damage, ...]


def _journal_workers(journal_day: Path) -> dict[str, list[Path]]:
    workers: dict[str, list[Path]] = {}
    for seg in list_segments(journal_day):
        workers.setdefault(seg.name.rsplit("-", 1)[0], []).append(seg)
    return workers


def rebuild_day(
    root: Path | str,
    day: dt.date,
    decode_records: DecodeRecords,
    *,
    version: str,
    venue: str,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    rotate_rows: int = DEFAULT_ROTATE_ROWS,
    max_buffered_rows: int = DEFAULT_MAX_BUFFERED_ROWS,
) -> RebuildReport:
    """Re-derive ``parquet/date=DAY`` and ``quarantine/date=DAY`` from ``journal/date=DAY``.

    Each worker's records go through ``decode_records`` and a ``ParquetSink`` under that worker's
    id, into a staging root beside the data; the staged day then replaces the live one in one
    rename (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames, during which the day
    is briefly absent but never half-written). The day must not be one a worker is still writing.
    """
    root = Path(root)
    journal_day = root / "journal" / f"date={day.isoformat()}"
    workers = _journal_workers(journal_day) if journal_day.is_dir() else {}
    if not workers:
        raise ParquetSinkError(f"no journal segments under {journal_day}; nothing to rebuild {day} from")
    (root / ".rebuild").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"date={day.isoformat()}-", dir=root / ".rebuild"))
    damage: list[Damage] = []
    files = rows = quarantined = 0
    try:
        for worker, segments in sorted(workers.items()):
            records = (r for seg in segments for r in iter_records(seg, on_damage=damage.append))
            sink = ParquetSink(
                staging,
                worker,
                version=version,
                venue=venue,
                row_group_rows=row_group_rows,
                rotate_rows=rotate_rows,
                max_buffered_rows=max_buffered_rows,
            )
            pending: list[QuarantineLike] = []
            for item in decode_records(records):
                if isinstance(item, BatchLike):
                    sink.write([item])
                else:
                    pending.append(item)
                    if len(pending) >= 1000:
                        quarantined += write_quarantine(staging, day, worker, pending)
                        pending.clear()
            sink.close()
            quarantined += write_quarantine(staging, day, worker, pending)
            mine = [w for w in sink.written if w.trading_day == day]
            files += len(mine)
            rows += sum(w.rows for w in mine)
        outside = sum(
            int(file_metadata(p)["rows"])
            for p in (staging / "parquet").glob("date=*/*/*/*.parquet")
            if p.parts[-4] != f"date={day.isoformat()}"
        )
        for kind in ("parquet", "quarantine"):
            _swap_in(staging / kind / f"date={day.isoformat()}", root / kind / f"date={day.isoformat()}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RebuildReport(day, tuple(sorted(workers)), files, rows, quarantined, outside, tuple(damage))


def _swap_in(new: Path, final: Path) -> None:
    """Make ``new`` (which may not exist: an empty day) the content of ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if not new.exists():
        new.parent.mkdir(parents=True, exist_ok=True)
        new.mkdir()
    if final.exists():
        if not _exchange(new, final):
            os.rename(final, new.with_name(new.name + ".old"))
            os.rename(new, final)
        # after an exchange ``new`` holds the old day; the staging cleanup removes it
    else:
        os.rename(new, final)
    fsync_dir(final.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported here."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _day_tables(root: Path, day: dt.date) -> dict[str, list[tuple[str, pa.Table]]]:
    """market/channel/tr_cd -> [(file name, table)] for one day of a root."""
    out: dict[str, list[tuple[str, pa.Table]]] = {}
    base = Path(root) / "parquet" / f"date={day.isoformat()}"
    for path in sorted(base.glob("market=*/channel=*/*.parquet")):
        market, channel = path.parts[-3].split("=", 1)[1], path.parts[-2].split("=", 1)[1]
        tr_cd = file_metadata(path).get("tr_cd", "?")
        out.setdefault(f"{market}/{channel}/{tr_cd}", []).append((path.name, pq.read_table(path)))
    return out


def compare_days(root_a: Path | str, root_b: Path | str, day: dt.date, *, by_file: bool = False) -> list[str]:
    """Differences between one day under two roots; empty when they hold the same rows.

    Per market/channel/TR, the rows of all files are compared in (symbol, recv_ns, seq) order,
    column by column, values and types. With ``by_file`` the file names must match too and each
    file is compared in its stored order (a rebuild of the same batches with the same settings).
    Every file is also checked to be sorted.
    """
    a, b = _day_tables(Path(root_a), day), _day_tables(Path(root_b), day)
    diffs: list[str] = []
    for key in sorted(a.keys() | b.keys()):
        if key not in a or key not in b:
            diffs.append(f"{key}: only in {root_a if key in a else root_b}")
            continue
        for side, files in ((root_a, a[key]), (root_b, b[key])):
            for name, t in files:
                if not _is_sorted(t):
                    diffs.append(f"{key}/{name} under {side}: rows are not in (symbol, recv_ns, seq) order")
        if by_file:
            names_a, names_b = [n for n, _ in a[key]], [n for n, _ in b[key]]
            if names_a != names_b:
                diffs.append(f"{key}: files differ: {names_a} vs {names_b}")
                continue
            for (name, ta), (_, tb) in zip(a[key], b[key], strict=True):
                diffs.extend(_compare_tables(f"{key}/{name}", ta, tb))
        else:
            ta = pa.concat_tables([t for _, t in a[key]], promote_options="permissive")
            tb = pa.concat_tables([t for _, t in b[key]], promote_options="permissive")
            order = [(k, "ascending") for k in SORT_KEYS]
            diffs.extend(_compare_tables(key, ta.sort_by(order), tb.sort_by(order)))
    return diffs


def _is_sorted(t: pa.Table) -> bool:
    if t.num_rows < 2:
        return True
    order = pc.sort_indices(t, sort_keys=[(k, "ascending") for k in SORT_KEYS])
    return bool(pc.all(pc.equal(order, pa.array(range(t.num_rows), order.type))).as_py())


def _compare_tables(where: str, ta: pa.Table, tb: pa.Table) -> list[str]:
    sa, sb = ta.schema.remove_metadata(), tb.schema.remove_metadata()
    if not sa.equals(sb):
        return [f"{where}: schemas differ:\n{sa}\nvs\n{sb}"]
    if ta.num_rows != tb.num_rows:
        return [f"{where}: {ta.num_rows} rows vs {tb.num_rows}"]
    out = []
    for name in sa.names:
        ca, cb = ta[name].combine_chunks(), tb[name].combine_chunks()
        if ca.equals(cb):
            continue
        na, nb = pc.is_null(ca), pc.is_null(cb)
        differs = pc.or_(pc.xor(na, nb), pc.fill_null(pc.not_equal(ca, cb), False))
        idx = pc.indices_nonzero(differs)
        first = idx[0].as_py() if len(idx) else 0
        out.append(
            f"{where}: column {name} differs in {len(idx)} row(s), first at row {first} "
            f"(symbol {ta['symbol'][first].as_py()}, seq {ta['seq'][first].as_py()}): "
            f"{ca[first].as_py()!r} vs {cb[first].as_py()!r}"
        )
    return out
