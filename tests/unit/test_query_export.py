"""DuckDB views, SQL, the original tool's CSV rows (LS_OPENAPI.md §6.3), cp949, and gatherer.read."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gatherer
from gatherer.errors import GathererError
from gatherer.ops.query import QueryError, connect, csv_columns, export, run_query
from gatherer.sinks.masters import write_master
from gatherer.sinks.parquet import ParquetSink, ParquetSinkError

from ..helpers.batches import DAY, T0, Batch, make_table, rows_for

# §6.3, written out by hand from the table (not built the way the code builds it).
S3_CSV = (
    "shcode time chetime sign change drate price opentime open hightime high lowtime low cgubun cvolume "
    "volume value mdvolume mdchecnt msvolume mschecnt cpower w_avrg offerho bidho status jnilvolume"
).split()
H1_CSV = (
    ["shcode", "time", "hotime"]
    + [f"offerho{i}" for i in range(1, 11)]
    + [f"offerrem{i}" for i in range(1, 11)]
    + [f"bidho{i}" for i in range(1, 11)]
    + [f"bidrem{i}" for i in range(1, 11)]
    + ["totofferrem", "totbidrem", "donsigubun", "alloc_gubun"]
)
OVC_CSV = (
    "symbol time ovsdate kordate trdtm kortm curpr ydiffpr ydiffSign open high low chgrate trdq totq "
    "cgubun mdvolume msvolume ovsmkend"
).split()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    with ParquetSink(tmp_path, "w00", version="t", venue="sim") as s:
        s.write(
            [
                Batch("S3_", "kospi", "trade", make_table("S3_", rows_for(["005930", "000660"], 40))),
                Batch("H1_", "kospi", "book", make_table("H1_", rows_for(["005930", "000660"], 30, seq0=40))),
                Batch("K3_", "kosdaq", "trade", make_table("K3_", rows_for(["035720"], 10, seq0=70))),
                Batch("OVC", "ofutures", "trade", make_table("OVC", rows_for(["ESZ26"], 5, seq0=80))),
            ]
        )
    write_master(
        tmp_path, DAY, "kospi", pa.table({"shcode": ["005930", "000660"], "hname": ["삼성전자", "SK"]})
    )
    write_master(tmp_path, DAY, "kosdaq", pa.table({"shcode": ["035720"], "hname": ["카카오"]}))
    return tmp_path


def read_csv(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


# -- DuckDB ----------------------------------------------------------------------------------------


def test_views_per_channel_with_date_and_market_from_the_path(root: Path) -> None:
    con = connect(root)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert views == {"book", "trade", "masters"}
    rows = con.execute("SELECT date, market, count(*) FROM trade GROUP BY ALL ORDER BY market").fetchall()
    assert rows == [(DAY, "kosdaq", 10), (DAY, "kospi", 40), (DAY, "ofutures", 5)]
    con.close()


def test_run_query_returns_arrow_with_exact_decimals(root: Path) -> None:
    t = run_query(
        root, "SELECT symbol, sum(drate) AS s, count(*) AS n FROM trade WHERE market = 'kospi' GROUP BY 1"
    )
    by_symbol = dict(zip(t["symbol"].to_pylist(), t["s"].to_pylist(), strict=True))
    src = make_table("S3_", rows_for(["005930", "000660"], 40))
    want: dict[str, Decimal] = {}
    for s, d in zip(src["symbol"].to_pylist(), src["drate"].to_pylist(), strict=True):
        want[s] = want.get(s, Decimal(0)) + d
    assert by_symbol == want
    assert pa.types.is_decimal(t.schema.field("s").type)


def test_masters_view_names_the_market_from_the_file(root: Path) -> None:
    t = run_query(root, "SELECT market, shcode, hname FROM masters ORDER BY market, shcode")
    assert t.to_pylist() == [
        {"market": "kosdaq", "shcode": "035720", "hname": "카카오"},
        {"market": "kospi", "shcode": "000660", "hname": "SK"},
        {"market": "kospi", "shcode": "005930", "hname": "삼성전자"},
    ]


def test_a_channel_carrying_two_trs_reads_as_one_view(tmp_path: Path) -> None:
    with ParquetSink(tmp_path, "w00", version="t", venue="sim") as s:
        s.write([Batch("FC0", "kfutures", "trade", make_table("FC0", rows_for(["101WC000"], 3)))])
        s.write([Batch("FC9", "kfutures", "trade", make_table("FC9", rows_for(["A0166000"], 4, seq0=3)))])
    t = run_query(tmp_path, "SELECT tr_cd, count(*) AS n FROM trade GROUP BY 1 ORDER BY 1")
    assert t.to_pylist() == [{"tr_cd": "FC0", "n": 3}, {"tr_cd": "FC9", "n": 4}]


def test_a_bad_query_and_a_missing_root_raise_our_error(root: Path, tmp_path: Path) -> None:
    with pytest.raises(QueryError):
        run_query(root, "SELECT nope FROM trade")
    with pytest.raises(QueryError, match="no data root"):
        connect(tmp_path / "absent")


# -- CSV export --------------------------------------------------------------------------------


def test_csv_columns_follow_the_original_tool() -> None:
    assert list(csv_columns("S3_")) == S3_CSV and list(csv_columns("K3_")) == S3_CSV
    assert list(csv_columns("H1_")) == H1_CSV and list(csv_columns("HA_")) == H1_CSV
    assert list(csv_columns("OVC")) == OVC_CSV and list(csv_columns("WOC")) == OVC_CSV
    # Total column counts as §6.3 states them.
    totals = {
        "H1_": 47,
        "S3_": 27,
        "K1_": 82,
        "FH0": 39,
        "OH0": 39,
        "FC0": 30,
        "OC0": 30,
        "OVH": 37,
        "OVC": 19,
    }
    assert {tr: len(csv_columns(tr)) for tr in totals} == totals
    assert csv_columns("K1_")[2:6] == ("offerno1", "bidno1", "offertrad1", "bidtrad1")
    assert csv_columns("FC9") == csv_columns("FC0") and csv_columns("FC9")[0] == "futcode"


def test_csv_rows_hold_the_values_in_the_original_order(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "trade.csv"
    assert export(root, DAY, "kospi", "trade", "csv", out) == 40
    rows = read_csv(out)
    assert len(rows) == 40 and all(len(r) == 27 for r in rows)
    src = make_table("S3_", rows_for(["005930", "000660"], 40)).sort_by("recv_ns")
    first = src.slice(0, 1).to_pylist()[0]
    assert rows[0][0] == first["shcode"]
    assert float(rows[0][1]) == pytest.approx(first["recv_ns"] / 1e9, abs=1e-6)
    for name, text in zip(S3_CSV[2:], rows[0][2:], strict=True):
        assert text == str(first[name]), name
    assert rows[0][S3_CSV.index("drate")] == str(first["drate"])  # e.g. "1.30": the exact text
    assert out.read_bytes().count(b"\r\n") == 40  # csv.writer line ends, as the original


def test_csv_ovc_and_h1_layouts_and_nulls_as_empty(root: Path, tmp_path: Path) -> None:
    export(root, DAY, "ofutures", "trade", "csv", tmp_path / "ovc.csv")
    rows = read_csv(tmp_path / "ovc.csv")
    assert [len(r) for r in rows] == [19] * 5 and rows[0][0] == "ESZ26"
    assert Decimal(rows[0][OVC_CSV.index("curpr")]).as_tuple().exponent == -9  # 15.9 kept exact

    with ParquetSink(tmp_path / "n", "w00", version="t", venue="sim") as s:
        t = make_table("H1_", rows_for(["005930"], 2), overrides={"offerho1": [None, 1234]})
        s.write([Batch("H1_", "kospi", "book", t)])
    export(tmp_path / "n", DAY, "kospi", "book", "csv", tmp_path / "h1.csv", header=True)
    head, *body = read_csv(tmp_path / "h1.csv")
    assert head == H1_CSV
    assert [r[H1_CSV.index("offerho1")] for r in body] == ["", "1234"]


def test_cp949_export_round_trips_korean_text(tmp_path: Path) -> None:
    names = ["키움증권", "미래에셋"]
    with ParquetSink(tmp_path, "w00", version="t", venue="sim") as s:
        t = make_table("K1_", rows_for(["005930"], 2), overrides={"offertrad1": names})
        s.write([Batch("K1_", "kospi", "broker", t)])
    out = tmp_path / "k1.csv"
    export(tmp_path, "2026-11-24", "kospi", "broker", "csv", out, encoding="cp949")
    raw = out.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = read_csv(out, "cp949")
    col = list(csv_columns("K1_")).index("offertrad1")
    assert [r[col] for r in rows] == names and all(len(r) == 82 for r in rows)


def test_text_cp949_cannot_hold_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    with ParquetSink(tmp_path, "w00", version="t", venue="sim") as s:
        t = make_table("K1_", rows_for(["005930"], 1), overrides={"offertrad1": ["😀"]})
        s.write([Batch("K1_", "kospi", "broker", t)])
    with pytest.raises(QueryError, match="cp949"):
        export(tmp_path, DAY, "kospi", "broker", "csv", tmp_path / "x.csv", encoding="cp949")
    assert not list(tmp_path.glob("*x.csv*"))


def test_export_filters_symbols_and_parquet_export_is_exact(root: Path, tmp_path: Path) -> None:
    assert export(root, DAY, "kospi", "trade", "csv", tmp_path / "s.csv", symbols=["000660"]) == 20
    assert {r[0] for r in read_csv(tmp_path / "s.csv")} == {"000660"}
    export(root, DAY, "kospi", "trade", "parquet", tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").equals(gatherer.read(DAY, "kospi", "trade", root=root))


# -- gatherer.read ------------------------------------------------------------------------------


def test_read_filters_symbols_and_columns_sorted(root: Path) -> None:
    t = gatherer.read(
        "2026-11-24", "kospi", "book", symbols=["005930"], columns=["recv_ns", "offerho1"], root=root
    )
    assert t.column_names == ["recv_ns", "offerho1"] and t.num_rows == 15
    assert t["recv_ns"].to_pylist() == sorted(t["recv_ns"].to_pylist())
    one = gatherer.read(DAY, "kospi", "trade", "000660", root=root)
    assert set(one["symbol"].to_pylist()) == {"000660"} and one.num_rows == 20
    everything = gatherer.read(DAY, "kospi", "trade", root=root)
    keys = list(zip(everything["symbol"].to_pylist(), everything["recv_ns"].to_pylist(), strict=True))
    assert keys == sorted(keys) and everything.num_rows == 40
    assert everything["recv_ns"][0].as_py() >= T0


def test_read_names_what_is_missing(root: Path) -> None:
    with pytest.raises(ParquetSinkError, match="no Parquet files for kospi/broker"):
        gatherer.read(DAY, "kospi", "broker", root=root)
    with pytest.raises(ParquetSinkError, match="no column"):
        gatherer.read(DAY, "kospi", "trade", columns=["nope"], root=root)


@pytest.mark.skipif(importlib.util.find_spec("pandas") is not None, reason="pandas is installed")
def test_read_as_pandas_without_pandas_says_how_to_install(root: Path) -> None:
    with pytest.raises(GathererError, match="pip install pandas"):
        gatherer.read(DAY, "kospi", "trade", root=root, as_="pandas")


def test_reading_a_date_as_a_date_object_or_text_is_the_same(root: Path) -> None:
    a = gatherer.read(dt.date(2026, 11, 24), "kosdaq", "trade", root=root)
    b = gatherer.read("2026-11-24", "kosdaq", "trade", root=root)
    assert a.equals(b) and a.num_rows == 10


def test_csv_of_a_channel_with_two_trs_interleaves_in_receive_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gatherer.ops.query._CSV_CHUNK_ROWS", 3)  # chunk edges inside the data
    with ParquetSink(tmp_path, "w00", version="t", venue="sim") as s:
        s.write([Batch("FC0", "kfutures", "trade", make_table("FC0", rows_for(["101WC000"], 4, step_ns=2)))])
        old_and_new = rows_for(["A0166000"], 4, start_ns=T0 + 1, seq0=4, step_ns=2)
        s.write([Batch("FC9", "kfutures", "trade", make_table("FC9", old_and_new))])
    out = tmp_path / "fut.csv"
    assert export(tmp_path, DAY, "kfutures", "trade", "csv", out) == 8
    rows = read_csv(out)
    assert [r[0] for r in rows] == ["101WC000", "A0166000"] * 4
    assert all(len(r) == 30 for r in rows)
    with pytest.raises(QueryError, match="several TRs"):
        export(tmp_path, DAY, "kfutures", "trade", "csv", out, header=True)
    assert export(tmp_path, DAY, "kfutures", "trade", "csv", out, header=True, tr_cd="FC9") == 4
    assert read_csv(out)[0][:3] == ["futcode", "time", "chetime"]
