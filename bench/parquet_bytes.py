"""bench/parquet_bytes: tick Parquet bytes per frame, by writer option, measured in one run.

bench/store's frames (every TR of the six markets, stock-heavy) go through the product's store
(journal, decode, ``ParquetSink``) once; its files on disk are the product's figure. Then each
file's rows are written again, in memory, run by run as the store wrote them (``gatherer.run_rows``),
with one writer option changed at a time against the layout before (dictionary for every column
but recv_ns/seq, zstd's default level): bytes per frame (whole files, footers included) and write
CPU µs per frame (sort included where an option re-sorts). The last table shows where the chosen
layout's bytes are, by kind of column. Run: `make bench` or `python -m bench.parquet_bytes
[--frames 200000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import record
from bench.store import journal_frames, make_frames
from gatherer.run.store import JournalTail, Store, follow
from gatherer.sinks import runfile
from gatherer.sinks.encoding import DELTA_COLUMNS, writer_options
from gatherer.sinks.runfile import RUN_ROWS_KEY, SORT_KEYS

TARGET = 35.0
STATS_KEYS = ["symbol", "recv_ns", "seq", "trading_day"]


@dataclass(frozen=True)
class Spec:
    """One way of writing a tick file (the fields a row of the table changes)."""

    level: int | None = None  # zstd level; None = Arrow's default (1)
    numbers: str = "dict"  # int64/decimal/timestamp: dict, PLAIN, or an encoding name
    strings: str = "dict"
    keys: str = "DELTA_BINARY_PACKED"  # recv_ns, seq
    stats: str = "all"  # or "keys": statistics for symbol, recv_ns, seq, trading_day only
    decimal_as_int: bool = False
    sort: tuple[str, ...] = SORT_KEYS
    row_group_rows: int = 131_072
    one_run: bool = False  # the file's rows as one sorted run (no memory spills)


BEFORE = Spec()
OPTIONS: list[tuple[str, Spec]] = [
    ("before: dictionary but recv_ns/seq DELTA, zstd default (1)", BEFORE),
    ("zstd level 3", replace(BEFORE, level=3)),
    ("zstd level 6", replace(BEFORE, level=6)),
    ("zstd level 9", replace(BEFORE, level=9)),
    ("statistics only for symbol, recv_ns, seq, trading_day", replace(BEFORE, stats="keys")),
    ("numbers DELTA_BINARY_PACKED (cumulative volumes, times, prices)", replace(BEFORE, numbers="DELTA")),
    ("numbers DELTA + decimals stored as integers", replace(BEFORE, numbers="DELTA", decimal_as_int=True)),
    ("numbers BYTE_STREAM_SPLIT", replace(BEFORE, numbers="BYTE_STREAM_SPLIT")),
    ("numbers PLAIN (no dictionary)", replace(BEFORE, numbers="PLAIN")),
    ("strings PLAIN", replace(BEFORE, strings="PLAIN")),
    ("strings DELTA_LENGTH_BYTE_ARRAY", replace(BEFORE, strings="DELTA_LENGTH_BYTE_ARRAY")),
    ("strings DELTA_BYTE_ARRAY", replace(BEFORE, strings="DELTA_BYTE_ARRAY")),
    ("recv_ns/seq with a dictionary", replace(BEFORE, keys="dict")),
    ("recv_ns/seq BYTE_STREAM_SPLIT", replace(BEFORE, keys="BYTE_STREAM_SPLIT")),
    ("rows sorted by (symbol, seq)", replace(BEFORE, sort=("symbol", "seq"))),
    ("rows in arrival order (recv_ns, seq)", replace(BEFORE, sort=("recv_ns", "seq"))),
    ("row groups of 16,384 rows", replace(BEFORE, row_group_rows=16_384)),
    ("row groups of 1,048,576 rows", replace(BEFORE, row_group_rows=1_048_576)),
    ("each file one sorted run (no memory spills)", replace(BEFORE, one_run=True)),
]
CHOSEN = Spec(level=3, numbers="PLAIN")
"""``sinks.encoding.writer_options``, spelled as a Spec (the bench checks they agree)."""
AROUND_CHOSEN: list[tuple[str, Spec]] = [
    ("chosen + zstd level 1", replace(CHOSEN, level=1)),
    ("chosen + zstd level 6", replace(CHOSEN, level=6)),
    ("chosen + numbers BYTE_STREAM_SPLIT", replace(CHOSEN, numbers="BYTE_STREAM_SPLIT")),
    ("chosen + decimals stored as integers", replace(CHOSEN, decimal_as_int=True)),
    ("chosen + statistics only for the sort keys", replace(CHOSEN, stats="keys")),
    ("chosen, each file one sorted run (no memory spills)", replace(CHOSEN, one_run=True)),
]

File = tuple[pa.Table, list[int]]


def _number(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_timestamp(t))


def options(schema: pa.Schema, spec: Spec) -> dict[str, object]:
    dictionary: list[str] = []
    encoding: dict[str, str] = {}
    for f in schema:
        if f.name in DELTA_COLUMNS:
            how = spec.keys
        elif _number(f.type):
            how = spec.numbers
            if how == "DELTA":  # a decimal takes DELTA only when stored as an integer (precision ≤ 18)
                fixed = pa.types.is_decimal(f.type) and not (spec.decimal_as_int and f.type.precision <= 18)
                how = "PLAIN" if fixed else "DELTA_BINARY_PACKED"
        elif pa.types.is_string(f.type):
            how = spec.strings
        else:
            how = "dict"
        if how == "dict":
            dictionary.append(f.name)
        elif how != "PLAIN":
            encoding[f.name] = how
    out: dict[str, object] = {
        "compression": "zstd",
        "use_dictionary": dictionary,
        "column_encoding": encoding or None,
        "write_statistics": True if spec.stats == "all" else STATS_KEYS,
    }
    if spec.level is not None:
        out["compression_level"] = spec.level
    if spec.decimal_as_int:
        out["store_decimal_as_integer"] = True
    return out


def write(table: pa.Table, runs: list[int], spec: Spec, opts: dict[str, object]) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    writer = pq.ParquetWriter(sink, table.schema, **opts)
    if spec.one_run:
        runs = [table.num_rows]
    at = 0
    for n in runs:
        part = table.slice(at, n)
        at += n
        if spec.sort != SORT_KEYS or spec.one_run:
            part = part.sort_by([(k, "ascending") for k in spec.sort])
        writer.write_table(part, row_group_size=spec.row_group_rows)
    writer.close()
    return sink.getvalue()


def measure(files: list[File], spec: Spec, product: bool = False) -> tuple[int, float]:
    """(bytes, CPU seconds) of writing every file with ``spec`` (or the product's options)."""
    cpu0, size = time.process_time(), 0
    for table, runs in files:
        opts = writer_options(table.schema) if product else options(table.schema, spec)
        size += write(table, runs, spec, opts).size
    return size, time.process_time() - cpu0


def by_kind(files: list[File]) -> collections.Counter[str]:
    """Bytes of the product's layout by kind of column (and footers)."""
    out: collections.Counter[str] = collections.Counter()
    for table, runs in files:
        buf = write(table, runs, CHOSEN, writer_options(table.schema))
        md = pq.read_metadata(pa.BufferReader(buf))
        kinds = {f.name: _kind(f) for f in table.schema}
        for name in table.column_names:  # what storing a file's constants once could save, at most
            if name not in DELTA_COLUMNS and len(table[name].unique()) == 1:
                kinds[name] = "columns constant within their file (tr_cd, trading_day, …)"
        data = 0
        for r in range(md.num_row_groups):
            for c in range(md.num_columns):
                col = md.row_group(r).column(c)
                out[kinds[col.path_in_schema]] += col.total_compressed_size
                data += col.total_compressed_size
        out["footer (column metadata, statistics, Arrow schema)"] += buf.size - data
    return out


def _kind(f: pa.Field) -> str:
    if f.name in DELTA_COLUMNS:
        return f"{f.name}"
    for test, name in (
        (pa.types.is_integer, "int64 fields"),
        (pa.types.is_decimal, "decimal128 fields"),
        (pa.types.is_timestamp, "timestamp fields"),
        (pa.types.is_string, "string fields"),
        (pa.types.is_date, "trading_day"),
    ):
        if test(f.type):
            return name
    return "other"


def run_store(root: Path) -> float:
    """The product's store over the journal under ``root``: its CPU seconds."""
    store, first = Store.resume(root, "w00", version="bench", venue="bench")
    cpu0 = time.process_time()
    follow(JournalTail(root, "w00", start_seq=first), store, stop_requested=iter(lambda: True, False))
    return time.process_time() - cpu0


def store_cpu(root: Path, spec: Spec | None) -> float:
    """CPU seconds of the store over a copy of ``root``'s journal, writing with ``spec``'s options
    (None: the product's), for the store's share of the change."""
    work = Path(tempfile.mkdtemp(prefix="gatherer-bench-parquet-ab-"))
    shutil.copytree(root / "journal", work / "journal")
    chosen = runfile.writer_options
    if spec is not None:
        setattr(runfile, "writer_options", lambda schema: options(schema, spec))  # noqa: B010
    try:
        return run_store(work)
    finally:
        setattr(runfile, "writer_options", chosen)  # noqa: B010
        shutil.rmtree(work, ignore_errors=True)


def store_files(n: int, root: Path) -> list[Path]:
    """bench/store's frames through the product's store; its Parquet files."""
    asyncio.run(journal_frames(root, make_frames(n)))
    run_store(root)
    return sorted((root / "parquet").rglob("*.parquet"))


def load(paths: list[Path]) -> list[File]:
    out = []
    for p in paths:
        table = pq.read_table(p)
        kv = pq.read_metadata(p).metadata or {}
        runs = kv.get(f"gatherer.{RUN_ROWS_KEY}".encode(), str(table.num_rows).encode()).decode()
        out.append((table, [int(x) for x in runs.split(",")]))
    return out


def main(n: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="gatherer-bench-parquet-"))
    try:
        paths = store_files(n, root)
        on_disk = sum(p.stat().st_size for p in paths)
        files = load(paths)
        # The store itself with each layout, alternating, best of two each (the machine is shared).
        cpu_before, cpu_chosen = [], []
        for _ in range(2):
            cpu_before.append(store_cpu(root, BEFORE))
            cpu_chosen.append(store_cpu(root, None))
        store_before, store_chosen = min(cpu_before), min(cpu_chosen)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert sum(t.num_rows for t, _ in files) == n
    before, _ = measure(files, BEFORE)
    chosen, chosen_cpu = measure(files, CHOSEN, product=True)
    assert measure(files, CHOSEN)[0] == chosen, "CHOSEN no longer spells sinks.encoding.writer_options"
    rows = []
    for label, spec in [*OPTIONS, ("**chosen (sinks/encoding.py)**", CHOSEN), *AROUND_CHOSEN]:
        size, cpu = (chosen, chosen_cpu) if spec is CHOSEN else measure(files, spec)
        rows.append(f"| {label} | {size / n:.1f} | {size / before:.0%} | {cpu * 1e6 / n:.2f} |")
        print(rows[-1], flush=True)
    kinds = by_kind(files)
    kind_rows = [f"| {k} | {b / n:.1f} | {b / chosen:.0%} |" for k, b in kinds.most_common()]
    head = (
        f"Parquet on disk {on_disk / n:.1f} B/frame = {on_disk / before:.0%} of the layout before"
        f" ({before / n:.1f} B/frame), target ≤ {TARGET:.0f} B/frame"
    )
    ab = (
        f"the whole store (journal → decode → Parquet) with the chosen layout takes"
        f" {store_chosen / store_before:.0%} of its CPU with the layout before"
        f" ({n / store_chosen:,.0f} vs {n / store_before:,.0f} frames/s per core)"
    )
    print(head)
    print(ab)
    record(
        "Parquet bytes (bench/parquet_bytes.py)",
        f"""Command: `python -m bench.parquet_bytes --frames {n}` (`make bench`). bench/store's {n:,} frames
through the product's store; then each of its {len(files)} files (one per TR and partition, written in
sorted runs under the store's memory bound) written again in memory with one option changed,
run by run as the store wrote it. B/frame counts whole files (footers included); CPU is this
process's, per frame, for the write (and the sort where an option re-sorts).
Target (issue 16): ≤ {TARGET:.0f} B/frame.

**{head}; {ab}.**

| option (one change from "before" unless it says "chosen") | B/frame | of before | write CPU µs/frame |
|---|---|---|---|
{chr(10).join(rows)}

Where the chosen layout's bytes are:

| columns | B/frame | share |
|---|---|---|
{chr(10).join(kind_rows)}
""",
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    main(ap.parse_args().frames)
