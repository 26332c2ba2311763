"""Row buffers -> Arrow: one ``Batch`` (a table with the TR's full schema) per TR and market.

``to_batch`` turns the row tuples a ``RowPlan`` made (``rows.py``) into columns once per batch:
the row columns, each field group in its Arrow type, ``trading_day`` from the market's cutoff and
``<field>_ts`` from ``times.py``. Values are already typed and checked; nothing here refuses a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from gatherer.decode.fields import units_to_decimal
from gatherer.decode.schema import Layout, TimeSource, column_name
from gatherer.decode.times import Zone, timestamps, trading_days


@dataclass(frozen=True, slots=True)
class Batch:
    """Decoded rows of one TR and market: ``table`` has that TR's full schema (``schema_for``)."""

    tr_cd: str
    market: str
    channel: str
    table: pa.Table


def decimal_array(units: Sequence[int | None], scale: int, precision: int) -> pa.Array:
    """A decimal128 column from scaled integers (``rows.py``), exactly."""
    typ = pa.decimal128(precision, scale)
    try:
        ints = pa.array(units, pa.int64())
    except (OverflowError, pa.ArrowInvalid):
        return pa.array([None if u is None else units_to_decimal(u, scale) for u in units], typ)
    # Same 16-byte layout: cast the scaled integers exactly, then re-read them with the scale.
    return ints.cast(pa.decimal128(38, 0)).view(typ)


def to_batch(
    lay: Layout,
    market: str,
    rows: list[tuple[Any, ...]],
    *,
    cutoff: dt.time,
    seoul: Zone,
    local: Zone,
) -> Batch:
    """One TR's rows of one market as a ``Batch``; ``cutoff`` is the market's trading-day cutoff,
    ``seoul`` and ``local`` the wall clocks time fields are read in."""
    tr_cd = lay.spec.tr_cd
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    seq, recv, conn, symbol, extra = cols[:5]
    arrays: dict[str, pa.Array] = {
        "seq": pa.array(seq, pa.int64()),
        "recv_ns": pa.array(recv, pa.int64()),
        "trading_day": pa.array(trading_days(recv, cutoff), pa.date32()),
        "tr_cd": pa.array([tr_cd] * n, pa.string()),
        "conn_id": pa.array(conn, pa.string()),
        "symbol": pa.array(symbol, pa.string()),
        "extra": pa.array(extra, pa.string()),
    }
    pos = 5
    by_name: dict[str, Sequence[Any]] = {}
    for name in lay.ints:
        arrays[column_name(name)] = pa.array(cols[pos], pa.int64())
        pos += 1
    for name, scale, precision in lay.decs:
        arrays[column_name(name)] = decimal_array(cols[pos], scale, precision)
        pos += 1
    for name in lay.strs + lay.times + lay.dates:
        by_name[name] = cols[pos]
        arrays[column_name(name)] = pa.array(cols[pos], pa.string())
        pos += 1
    for src in lay.time_sources:
        zone = seoul if src.clock == "seoul" else local
        arrays[f"{src.field}_ts"] = _ts_array(src, by_name, recv, zone)
    table = pa.Table.from_arrays([arrays[f.name] for f in lay.schema], schema=lay.schema)
    return Batch(tr_cd, market, lay.spec.channel, table)


def _ts_array(
    src: TimeSource, by_name: Mapping[str, Sequence[Any]], recv: Sequence[int], zone: Zone
) -> pa.Array:
    dates = by_name[src.date_field] if src.date_field is not None else None
    values = timestamps(by_name[src.field], dates, recv, zone)
    return pa.array(values, pa.timestamp("ns", tz="Asia/Seoul"))
