"""How the sink encodes a tick file (sinks/encoding.py): the encodings and compression read back
from the file's own metadata, whole and spilled in runs, and every value exact on the way back."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from gatherer.sinks.encoding import DELTA_COLUMNS
from gatherer.sinks.parquet import ParquetSink
from gatherer.sinks.partitions import partition_files, read_partition

from ..helpers.batches import DAY, T0, Batch, make_table, rows_for

SORT = [("symbol", "ascending"), ("recv_ns", "ascending"), ("seq", "ascending")]
TS = pa.timestamp("ns", tz="Asia/Seoul")


def write(root: Path, table: pa.Table, **kw: Any) -> Path:
    """The sink's file of ``table`` (an S3_ batch), fed in batches of 50 rows."""
    with ParquetSink(root, "w00", version="0.1.0-test", venue="sim", **kw) as s:
        for at in range(0, table.num_rows, 50):
            s.write([Batch("S3_", "kospi", "trade", table.slice(at, 50))])
    (path,) = partition_files(root, DAY, "kospi", "trade")
    return path


def with_timestamps(table: pa.Table) -> pa.Table:
    """Add a ``*_ts`` column as the decoder makes them (timestamp[ns, Asia/Seoul], blanks null)."""
    ts = [None if i % 7 == 3 else ns - 5_000_000_000 for i, ns in enumerate(table["recv_ns"].to_pylist())]
    at = table.schema.get_field_index("chetime") + 1
    return table.add_column(at, "chetime_ts", pa.array(ts, TS))


def test_columns_are_encoded_as_chosen_whole_and_in_spilled_runs(tmp_path: Path) -> None:
    table = with_timestamps(make_table("S3_", rows_for(["005930", "000660", "035720"], 600)))
    whole = write(tmp_path / "whole", table)
    spilled = write(tmp_path / "spill", table, max_buffered_rows=120, row_group_rows=64)
    assert pq.read_metadata(spilled).metadata[b"gatherer.run_rows"]  # really written in runs
    for path in (whole, spilled):
        md = pq.read_metadata(path)
        kinds = {f.name: f.type for f in pq.read_schema(path)}
        for rg in range(md.num_row_groups):
            for c in range(md.num_columns):
                col = md.row_group(rg).column(c)
                name, typ = col.path_in_schema, kinds[col.path_in_schema]
                assert col.compression == "ZSTD", name
                assert col.is_stats_set, name
                if name in DELTA_COLUMNS:
                    assert "DELTA_BINARY_PACKED" in col.encodings and not col.has_dictionary_page, name
                elif pa.types.is_string(typ) or pa.types.is_date(typ):
                    assert col.has_dictionary_page and "RLE_DICTIONARY" in col.encodings, name
                else:  # int64, decimal128, timestamp: plain values under zstd
                    assert not col.has_dictionary_page, name
                    assert set(col.encodings) <= {"PLAIN", "RLE"}, (name, col.encodings)
                    assert not pa.types.is_decimal(typ) or col.physical_type == "FIXED_LEN_BYTE_ARRAY"
    # The zstd level and every encoding, spelled out independently: the same column chunks.
    ref = tmp_path / "ref.parquet"
    strings = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_date(f.type)]
    pq.write_table(
        pq.read_table(whole),
        ref,
        compression="zstd",
        compression_level=3,
        use_dictionary=strings,
        column_encoding={"recv_ns": "DELTA_BINARY_PACKED", "seq": "DELTA_BINARY_PACKED"},
        row_group_size=131_072,
    )

    def chunks(path: Path) -> list[tuple[str, int]]:
        rg = pq.read_metadata(path).row_group(0)
        cols = [rg.column(c) for c in range(rg.num_columns)]
        return [(col.path_in_schema, col.total_compressed_size) for col in cols]

    assert chunks(whole) == chunks(ref)


INT64 = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(-5, 5))


def decimals(precision: int, scale: int) -> st.SearchStrategy[Decimal | None]:
    top = Decimal(10**precision - 1).scaleb(-scale)  # the largest the type holds, e.g. 9999.99
    return st.one_of(
        st.none(),
        st.decimals(-top, top, places=scale, allow_nan=False, allow_infinity=False),
        st.sampled_from([Decimal(0).scaleb(-scale), top, -top]),
    )


ROW = st.tuples(
    st.sampled_from(["005930", "000660", "A0166000", "ESZ26"]),
    st.integers(0, 10**12),  # recv_ns after T0
    INT64,  # price
    INT64,  # volume
    decimals(6, 2),  # drate
    decimals(9, 2),  # cpower
    st.one_of(st.none(), st.text(max_size=6)),  # sign: blanks, Korean, anything
    st.one_of(st.none(), st.integers(-(2**62), 2**62)),  # chetime_ts
)


@settings(max_examples=25, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=160), st.booleans())
def test_values_round_trip_exactly(tmp_path_factory: Any, rows: list[tuple[Any, ...]], spill: bool) -> None:
    root = tmp_path_factory.mktemp("rt")
    keys = [(sym, T0 + off, i) for i, (sym, off, *_) in enumerate(rows)]
    overrides = {
        name: [r[k] for r in rows] for k, name in enumerate(("price", "volume", "drate", "cpower", "sign"), 2)
    }
    table = make_table("S3_", keys, overrides=overrides)
    table = table.add_column(0, "chetime_ts", pa.array([r[7] for r in rows], TS))
    kw = {"max_buffered_rows": 60, "row_group_rows": 16} if spill else {}
    write(root, table, **kw)
    back = read_partition(root, DAY, "kospi", "trade")
    expected = table.sort_by(SORT).replace_schema_metadata()
    assert back.schema.equals(expected.schema, check_metadata=False)
    assert back.equals(expected), (back.to_pylist()[:3], expected.to_pylist()[:3])
