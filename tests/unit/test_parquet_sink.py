"""The Parquet sink: exact round trips, trading-day partitions, no half files, sorted rows,
metadata, rotation, quarantine lines; the lake comparison the tests use finds a changed value.
(A rebuild from the journal equals the live store: tests/unit/test_pipeline.py.)"""

from __future__ import annotations

import datetime as dt
import random
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gatherer.clock import seoul_ns
from gatherer.sinks import file_metadata
from gatherer.sinks import parquet as sink_mod
from gatherer.sinks.parquet import ParquetSink, ParquetSinkError, partition_dir, write_quarantine
from gatherer.sinks.partitions import partition_files, read_partition

from ..helpers.batches import DAY, T0, Batch, make_table, rows_for
from ..helpers.lake import compare_days, read_quarantine


@dataclass(frozen=True)
class Bad:
    reason: str
    detail: str
    seq: int
    recv_ns: int
    conn_id: str
    tr_cd: str | None
    payload: bytes


def sink(root: Path, worker: str = "w00", **kw: Any) -> ParquetSink:
    return ParquetSink(root, worker, version="0.1.0-test", venue="sim", **kw)


def hidden(root: Path) -> list[Path]:
    """Files still being written (temporaries no reader globs)."""
    return sorted(root.glob("parquet/*/*/*/.*.parquet.tmp"))


# -- round trips and layout --------------------------------------------------------------------


def test_round_trip_is_exact_including_decimals(tmp_path: Path) -> None:
    table = make_table("FC9", rows_for(["A0166000", "A0163000"], 50))
    big = Decimal("1234567.89")  # a 9.2 price no float would keep exactly in general
    table = table.set_column(
        table.schema.get_field_index("price"), "price", pa.array([big] * 50, table["price"].type)
    )
    with sink(tmp_path) as s:
        s.write([Batch("FC9", "kfutures", "trade", table)])
    back = read_partition(tmp_path, DAY, "kfutures", "trade")
    expected = table.sort_by([("symbol", "ascending"), ("recv_ns", "ascending"), ("seq", "ascending")])
    assert back.schema.equals(expected.schema, check_metadata=False)
    assert back.equals(expected)
    assert back["price"].to_pylist() == [big] * 50
    assert back["drate"].type == pa.decimal128(6, 2)


def test_rows_are_split_by_trading_day_across_the_cutoff(tmp_path: Path) -> None:
    # 07:29:59.5 .. 07:30:00.5 on 2026-11-25: the first half belongs to 2026-11-24.
    start = seoul_ns(dt.date(2026, 11, 25), dt.time(7, 29, 59)) + 500_000_000
    table = make_table("OVC", rows_for(["ESZ26", "NQZ26"], 10, start_ns=start, step_ns=100_000_000))
    with sink(tmp_path) as s:
        s.write([Batch("OVC", "ofutures", "trade", table)])
    before = read_partition(tmp_path, DAY, "ofutures", "trade")
    after = read_partition(tmp_path, DAY + dt.timedelta(days=1), "ofutures", "trade")
    assert before.num_rows == 5 and after.num_rows == 5
    assert set(before["trading_day"].to_pylist()) == {DAY}
    assert set(after["trading_day"].to_pylist()) == {DAY + dt.timedelta(days=1)}
    assert max(before["recv_ns"].to_pylist()) < seoul_ns(dt.date(2026, 11, 25), dt.time(7, 30))
    for path in partition_files(tmp_path, DAY + dt.timedelta(days=1), "ofutures", "trade"):
        assert file_metadata(path)["trading_day"] == "2026-11-25"


def test_rows_in_a_file_are_sorted_by_symbol_then_receive_time(tmp_path: Path) -> None:
    rows = rows_for(["005930", "000660", "035720"], 300)
    random.Random(7).shuffle(rows)
    with sink(tmp_path) as s:
        s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows[:150]))])
        s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows[150:]))])
    (path,) = partition_files(tmp_path, DAY, "kospi", "trade")
    t = pq.read_table(path)
    keys = list(zip(t["symbol"].to_pylist(), t["recv_ns"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    assert path.name == "w00-0001.parquet"
    assert path.parent == partition_dir(tmp_path, DAY, "kospi", "trade")


def test_file_metadata_names_the_layout_versions_worker_and_seq_range(tmp_path: Path) -> None:
    with sink(tmp_path, "w07") as s:
        s.write([Batch("FH9", "kfutures", "book", make_table("FH9", rows_for(["A0166000"], 20, seq0=100)))])
    (path,) = partition_files(tmp_path, DAY, "kfutures", "book")
    meta = file_metadata(path)
    assert meta == {
        "format": "1",
        "tr_cd": "FH9",
        "layout": "2026",
        "collector_version": "0.1.0-test",
        "venue": "sim",
        "worker_id": "w07",
        "trading_day": "2026-11-24",
        "market": "kfutures",
        "channel": "book",
        "rows": "20",
        "seq_min": "100",
        "seq_max": "119",
    }
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_two_trs_on_one_channel_get_separate_files_and_read_back_together(tmp_path: Path) -> None:
    with sink(tmp_path) as s:
        s.write([Batch("FH0", "kfutures", "book", make_table("FH0", rows_for(["101WC000"], 5)))])
        s.write([Batch("FH9", "kfutures", "book", make_table("FH9", rows_for(["A0166000"], 5, seq0=5)))])
    files = partition_files(tmp_path, DAY, "kfutures", "book")
    assert sorted((file_metadata(p)["tr_cd"], file_metadata(p)["layout"]) for p in files) == [
        ("FH0", "2025-12"),
        ("FH9", "2026"),
    ]
    both = read_partition(tmp_path, DAY, "kfutures", "book")
    assert both.num_rows == 10
    assert both["offerho1"].type == pa.decimal128(9, 2)  # 6.2 widened to 9.2, values exact
    assert sorted(set(both["tr_cd"].to_pylist())) == ["FH0", "FH9"]


def test_a_partition_rotates_at_rotate_rows_with_row_groups(tmp_path: Path) -> None:
    with sink(tmp_path, rotate_rows=100, row_group_rows=40) as s:
        for i in range(5):
            s.write(
                [Batch("S3_", "kospi", "trade", make_table("S3_", rows_for(["005930"], 50, seq0=50 * i)))]
            )
        assert s.buffered_rows == 50  # 250 rows in: two files written, 50 rows held
    files = partition_files(tmp_path, DAY, "kospi", "trade")
    assert [pq.read_metadata(p).num_rows for p in files] == [100, 100, 50]
    assert pq.read_metadata(files[0]).num_row_groups == 3
    assert [file_metadata(p)["seq_min"] for p in files] == ["0", "100", "200"]


def test_memory_is_bounded_across_partitions(tmp_path: Path) -> None:
    s = sink(tmp_path, max_buffered_rows=120)
    s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows_for(["005930"], 100)))])
    s.write([Batch("H1_", "kospi", "book", make_table("H1_", rows_for(["005930"], 30, seq0=100)))])
    assert s.buffered_rows == 30  # the larger trade buffer went to disk, into its open file
    assert not partition_files(tmp_path, DAY, "kospi", "trade")  # visible only once finished
    assert len(hidden(tmp_path)) == 1
    s.close()
    assert s.buffered_rows == 0 and len(s.written) == 2
    assert [pq.read_metadata(p).num_rows for p in partition_files(tmp_path, DAY, "kospi", "trade")] == [100]


def test_a_restarted_worker_continues_numbering_and_never_overwrites(tmp_path: Path) -> None:
    for seq0 in (0, 10):
        with sink(tmp_path) as s:
            s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows_for(["005930"], 10, seq0=seq0)))])
    names = [p.name for p in partition_files(tmp_path, DAY, "kospi", "trade")]
    assert names == ["w00-0001.parquet", "w00-0002.parquet"]


def test_a_batch_without_the_common_columns_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParquetSinkError, match="lacks"):
        sink(tmp_path).write([Batch("S3_", "kospi", "trade", pa.table({"price": [1]}))])


# -- no reader sees half a file ----------------------------------------------------------------


def test_a_file_at_its_final_name_always_opens_as_complete_parquet(tmp_path: Path) -> None:
    stop = threading.Event()
    seen: dict[str, int] = {}
    problems: list[str] = []

    def watch() -> None:
        while not stop.is_set():
            for p in tmp_path.glob("parquet/*/*/*/*.parquet"):
                try:
                    md = pq.read_metadata(p)
                    if md.num_rows != int(file_metadata(p)["rows"]):
                        problems.append(f"{p.name}: {md.num_rows} rows")
                    seen[p.name] = md.num_rows
                except Exception as e:  # a half file is exactly what this test must catch
                    problems.append(f"{p.name}: {e}")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with sink(tmp_path, rotate_rows=2000) as s:
            for i in range(15):
                rows = rows_for(["005930", "000660"], 1000, seq0=1000 * i)
                s.write([Batch("H1_", "kospi", "book", make_table("H1_", rows))])
    finally:
        stop.set()
        watcher.join()
    assert not problems
    assert seen  # the watcher did look at files while they were being written
    assert len(partition_files(tmp_path, DAY, "kospi", "book")) == 8
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_write_leaves_no_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pq.write_table

    def torn(table: pa.Table, where: Any, **kw: Any) -> None:
        real(table.slice(0, 1), where, **kw)
        Path(where).write_bytes(Path(where).read_bytes()[:100])  # half a file, then the disk fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sink_mod.pq, "write_table", torn)
    s = sink(tmp_path)
    s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows_for(["005930"], 10)))])
    with pytest.raises(ParquetSinkError, match="No space left"):
        s.close()
    d = partition_dir(tmp_path, DAY, "kospi", "trade")
    assert list(d.iterdir()) == []


def test_a_leftover_temporary_from_a_crash_is_removed_and_never_read(tmp_path: Path) -> None:
    d = partition_dir(tmp_path, DAY, "kospi", "trade")
    d.mkdir(parents=True)
    (d / ".w00-0001.parquet.tmp").write_bytes(b"PAR1 half")
    with sink(tmp_path) as s:
        s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows_for(["005930"], 3)))])
    assert sorted(p.name for p in d.iterdir()) == ["w00-0001.parquet"]


# -- quarantine ----------------------------------------------------------------------------------


def test_quarantine_lines_append_with_text_or_base64_payloads(tmp_path: Path) -> None:
    good = Bad("bad_value", "price='12a'", 5, T0, "w00-c001", "S3_", '{"x":"삼성"}'.encode())
    binary = Bad("not_json", "", 6, T0 + 1, "w00-c001", None, b"\xff\x00")
    assert write_quarantine(tmp_path, DAY, "w00", [good]) == 1
    path = tmp_path / "quarantine" / "date=2026-11-24" / "w00.jsonl"
    with open(path, "ab") as fh:
        fh.write(b'{"torn": ')  # a crash mid-line
    write_quarantine(tmp_path, DAY, "w00", [binary])
    lines = read_quarantine(tmp_path, DAY)
    assert [q["seq"] for q in lines] == [5, 6]
    assert lines[0]["payload"] == '{"x":"삼성"}' and lines[0]["payload_encoding"] == "utf-8"
    assert lines[1]["payload_encoding"] == "base64" and lines[1]["payload"] == "/wA="
    assert lines[0]["v"] == 1 and lines[0]["reason"] == "bad_value" and lines[1]["tr_cd"] is None


# -- rebuild from the journal --------------------------------------------------------------------


def toy_rows(root: Path, worker: str, n: int, rng: random.Random, **kw: Any) -> None:
    """Rows as a live store would write them (one per frame, a quarantine line for every 97th)."""
    batches, bad = [], []
    for i in range(n):
        sym, tr = rng.choice(["005930", "000660", "035720"]), rng.choice(["S3_", "H1_"])
        ns, conn = T0 + i * 1_000_000 + rng.randrange(1000), f"{worker}-c00{i % 2}"
        if i % 97 == 0:
            bad.append(Bad("not_json", "", i, ns, conn, None, b"\xff not json"))
            continue
        price = 70000 + rng.randrange(100)
        over = {"price": [price]} if tr == "S3_" else {"offerho1": [price]}
        table = make_table(tr, [(sym, ns, i)], conn_id=conn, overrides=over)
        batches.append(Batch(tr, "kospi", "book" if tr == "H1_" else "trade", table))
    with sink(root, worker, **kw) as s:
        s.write(batches)
    write_quarantine(root, DAY, worker, bad)


def test_compare_days_reports_a_changed_value(tmp_path: Path) -> None:
    live, other = tmp_path / "live", tmp_path / "other"
    for root, rotate in ((live, 50), (other, 128)):  # files cut differently, the same rows
        for worker in ("w00", "w01"):
            toy_rows(root, worker, 700, random.Random(worker), rotate_rows=rotate)
    assert compare_days(live, other, DAY) == []
    assert compare_days(live, other, DAY, by_file=True) != []
    assert read_quarantine(live, DAY) == read_quarantine(other, DAY)
    path = partition_files(other, DAY, "kospi", "trade")[0]
    t = pq.read_table(path)
    prices = t["price"].to_pylist()
    prices[3] += 1
    pq.write_table(
        t.set_column(t.schema.get_field_index("price"), "price", pa.array(prices, pa.int64())), path
    )

    diffs = compare_days(live, other, DAY)
    assert len(diffs) == 1
    assert "kospi/trade/S3_: column price differs in 1 row(s)" in diffs[0]
    assert f"{prices[3] - 1!r} vs {prices[3]!r}" in diffs[0]


def test_compare_days_reports_missing_rows_partitions_and_unsorted_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    rows = rows_for(["005930", "000660"], 20)
    with sink(a) as s:
        s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows))])
        s.write([Batch("H1_", "kospi", "book", make_table("H1_", rows))])
    with sink(b) as s:
        s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows[:19]))])
    assert sorted(compare_days(a, b, DAY)) == [
        f"kospi/book/H1_: only in {a}",
        "kospi/trade/S3_: 20 rows vs 19",
    ]
    path = partition_files(b, DAY, "kospi", "trade")[0]
    pq.write_table(pq.read_table(path).sort_by([("recv_ns", "descending")]), path)
    assert any("not in (symbol, recv_ns, seq) order" in d for d in compare_days(a, b, DAY))


def test_buffers_are_bounded_in_bytes_too_the_largest_written_first(tmp_path: Path) -> None:
    wide = make_table("H1_", rows_for(["005930", "000660"], 400))
    narrow = make_table("S3_", rows_for(["005930"], 100))
    cap = wide.nbytes + narrow.nbytes // 2
    with sink(tmp_path, max_buffered_rows=10**9, max_buffered_bytes=cap) as s:
        s.write([Batch("S3_", "kospi", "trade", narrow)])
        assert s.buffered_rows == 100  # under the cap: buffered
        s.write([Batch("H1_", "kospi", "book", wide)])  # over it: the book (the larger) goes to disk
        assert s.buffered_rows == 100
        assert [p.parent.name for p in hidden(tmp_path)] == ["channel=book"]  # in its open file
    assert partition_files(tmp_path, DAY, "kospi", "book")
    assert partition_files(tmp_path, DAY, "kospi", "trade")  # and the rest at close
    assert not hidden(tmp_path)


# -- spilling into the open file under memory pressure -------------------------------------------


def spilled(root: Path, rows: list[tuple[str, int, int]], **kw: Any) -> ParquetSink:
    """A sink fed ``rows`` in batches of 50 with room for 60: every second batch is spilled."""
    s = sink(root, max_buffered_rows=60, row_group_rows=40, **kw)
    for at in range(0, len(rows), 50):
        s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows[at : at + 50]))])
    return s


def test_spills_go_as_sorted_runs_into_one_open_file_shown_only_at_flush(tmp_path: Path) -> None:
    rows = rows_for(["005930", "000660", "035720"], 230)
    random.Random(3).shuffle(rows)
    s = spilled(tmp_path / "spill", rows)
    assert s.buffered_rows == 30  # 100 + 100 rows spilled, the last 30 held
    assert not partition_files(tmp_path / "spill", DAY, "kospi", "trade") and not s.written
    (tmp,) = hidden(tmp_path / "spill")
    assert tmp.name == ".w00-0001.parquet.tmp"
    s.flush()
    assert not hidden(tmp_path / "spill")
    (path,) = partition_files(tmp_path / "spill", DAY, "kospi", "trade")
    md = pq.read_metadata(path)
    assert md.num_rows == 230
    assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [40, 40, 20, 40, 40, 20, 30]
    meta = file_metadata(path)
    assert meta["run_rows"] == "100,100,30"
    arrow_meta = pq.read_table(path).schema.metadata or {}  # the Arrow schema tells the same
    assert {k.decode(): v.decode() for k, v in arrow_meta.items() if k.startswith(b"gatherer.")} == {
        f"gatherer.{k}": v for k, v in meta.items()
    }
    assert [(f.path, f.rows, f.seq_min, f.seq_max) for f in s.written] == [(path, 230, 0, 229)]
    with sink(tmp_path / "whole") as whole:  # the same rows without memory pressure: one run
        whole.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows))])
    (one,) = partition_files(tmp_path / "whole", DAY, "kospi", "trade")
    assert {k: v for k, v in meta.items() if k != "run_rows"} == file_metadata(one)  # rows, seq range too
    assert file_metadata(one)["rows"] == "230" and pq.read_metadata(one).num_row_groups == 1
    assert compare_days(tmp_path / "spill", tmp_path / "whole", DAY) == []  # rows exact, runs sorted
    expected = make_table("S3_", rows).sort_by([(k, "ascending") for k in ("symbol", "recv_ns", "seq")])
    assert read_partition(tmp_path / "spill", DAY, "kospi", "trade").equals(
        expected.replace_schema_metadata()
    )


def test_compare_days_finds_a_run_out_of_order_in_a_spilled_file(tmp_path: Path) -> None:
    rows = rows_for(["005930", "000660"], 130)
    spilled(tmp_path / "a", rows).close()
    with sink(tmp_path / "b") as s:
        s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows))])
    (path,) = partition_files(tmp_path / "a", DAY, "kospi", "trade")
    assert file_metadata(path)["run_rows"] == "100,30"
    assert compare_days(tmp_path / "a", tmp_path / "b", DAY) == []
    t = pq.read_table(path)  # the second run reversed, its metadata kept
    t = pa.concat_tables([t.slice(0, 100), t.slice(100).take(pa.array(range(29, -1, -1)))])
    pq.write_table(t, path)
    assert any(
        "not in (symbol, recv_ns, seq) order" in d for d in compare_days(tmp_path / "a", tmp_path / "b", DAY)
    )


def test_a_spilled_file_rotates_at_exactly_rotate_rows(tmp_path: Path) -> None:
    with spilled(tmp_path, rows_for(["005930"], 250), rotate_rows=120) as s:
        # 100 spilled, 20 more finish file 1; 80 spilled, 40 more finish file 2: both before a flush
        assert len(partition_files(tmp_path, DAY, "kospi", "trade")) == 2 and s.buffered_rows == 10
        assert not hidden(tmp_path)
    files = partition_files(tmp_path, DAY, "kospi", "trade")
    assert [pq.read_metadata(p).num_rows for p in files] == [120, 120, 10]
    assert [file_metadata(p).get("run_rows") for p in files] == ["100,20", "80,40", None]
    assert [(file_metadata(p)["seq_min"], file_metadata(p)["seq_max"]) for p in files] == [
        ("0", "119"),
        ("120", "239"),
        ("240", "249"),
    ]


CRASH = """
import os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from helpers.batches import Batch, make_table, rows_for
from gatherer.sinks.parquet import ParquetSink
s = ParquetSink(Path({root!r}), "w00", version="t", venue="sim", max_buffered_rows=60)
for i in range(3):
    s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows_for(["005930"], 50, seq0=50 * i)))])
assert s.buffered_rows == 50
os._exit(9)  # killed: no flush, no close, no finaliser
"""


def test_a_crash_after_a_spill_leaves_only_a_temporary_the_next_sink_removes(tmp_path: Path) -> None:
    import subprocess
    import sys

    tests = str(Path(__file__).resolve().parents[1])
    code = CRASH.format(tests=tests, root=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert not partition_files(tmp_path, DAY, "kospi", "trade")
    assert [p.name for p in hidden(tmp_path)] == [".w00-0001.parquet.tmp"]
    with sink(tmp_path) as s:  # the restarted store writes the rows again from the journal
        s.write([Batch("S3_", "kospi", "trade", make_table("S3_", rows_for(["005930"], 150)))])
    assert [p.name for p in partition_files(tmp_path, DAY, "kospi", "trade")] == ["w00-0001.parquet"]
    assert not hidden(tmp_path)


def test_a_failed_spill_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: Any, table: pa.Table, row_group_size: int | None = None) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sink_mod.pq.ParquetWriter, "write_table", full)
    with pytest.raises(ParquetSinkError, match="No space left"):
        spilled(tmp_path, rows_for(["005930"], 100))
    assert not hidden(tmp_path) and not partition_files(tmp_path, DAY, "kospi", "trade")
