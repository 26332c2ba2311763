"""Decoded batches made up for sink and query tests: a TR's exact column types, deterministic
values, one trading day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from gatherer.clock import seoul_ns, trading_day_of
from gatherer.venues.ls.catalog import CATALOG, Field

DAY = dt.date(2026, 11, 24)
T0 = seoul_ns(DAY, dt.time(10, 0))


@dataclass(frozen=True)
class Batch:
    tr_cd: str
    market: str
    channel: str
    table: pa.Table


def arrow_type(f: Field) -> pa.DataType:
    if f.kind == "int":
        return pa.int64()
    if f.kind == "dec":
        return pa.decimal128(max(f.length, f.scale + 1), f.scale)
    return pa.string()


def field_value(f: Field, i: int, sym: str) -> Any:
    if f.kind == "int":
        return 1000 + 7 * i
    if f.kind == "dec":
        whole = 10 ** max(0, f.length - f.scale - 1) - 1
        return Decimal(f"{(i * 37) % (whole + 1)}.{(i * 13) % 10**f.scale:0{f.scale}d}")
    if f.kind == "time":
        return f"{9 + i % 6:02d}{i % 60:02d}{(i * 7) % 60:02d}"
    if f.kind == "date":
        return "20261124"
    return "2" if f.length == 1 else f"{f.name[:2]}{i % 10}"[: f.length]


def make_table(
    tr_cd: str,
    rows: list[tuple[str, int, int]],
    *,
    conn_id: str = "w00-c000",
    overrides: dict[str, list[Any]] | None = None,
) -> pa.Table:
    """A table shaped like a decoded batch: the TR's fields (exact types), then the common columns.

    ``rows`` are (symbol, recv_ns, seq).
    """
    spec = CATALOG[tr_cd]
    cols: dict[str, pa.Array] = {}
    for f in spec.fields:
        if overrides and f.name in overrides:
            values = overrides[f.name]
        elif f.name == spec.key_field:
            values = [s for s, _, _ in rows]
        else:
            values = [field_value(f, seq, s) for s, _, seq in rows]
        cols[f.name] = pa.array(values, arrow_type(f))
    cols["recv_ns"] = pa.array([ns for _, ns, _ in rows], pa.int64())
    cols["trading_day"] = pa.array([trading_day_of(ns) for _, ns, _ in rows], pa.date32())
    cols["symbol"] = pa.array([s for s, _, _ in rows], pa.string())
    cols["tr_cd"] = pa.array([tr_cd] * len(rows), pa.string())
    cols["conn_id"] = pa.array([conn_id] * len(rows), pa.string())
    cols["seq"] = pa.array([seq for _, _, seq in rows], pa.int64())
    cols["extra"] = pa.array([None] * len(rows), pa.string())
    return pa.table(cols).replace_schema_metadata({"tr_cd": tr_cd, "layout": spec.layout})  # as decode.schema


def rows_for(symbols: list[str], n: int, *, start_ns: int = T0, seq0: int = 0, step_ns: int = 1_000_000):
    return [(symbols[i % len(symbols)], start_ns + i * step_ns, seq0 + i) for i in range(n)]
