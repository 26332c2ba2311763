"""Row buffers -> Arrow: one ``Batch`` (a table with the TR's full schema) per TR and market.

Two ways in, one way out. ``to_batch`` takes rows a ``RowPlan`` already typed (``rows.py``, the
per-value path); ``text_batch`` takes rows whose body values are still as sent and types them column
by column (``columns.py``), dropping the rows with a bad value and returning their details. Both end
in ``_assemble``: the row columns, each field group in its Arrow type, ``trading_day`` from the
market's cutoff and ``<field>_ts`` from ``times.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from gatherer.decode.columns import Typer, decimal_array
from gatherer.decode.schema import Layout, column_name
from gatherer.decode.times import Zone, timestamps, trading_days
from gatherer.venues.ls.night import NIGHT, night_trading_days

__all__ = ["Batch", "SessionsOf", "decimal_array", "text_batch", "to_batch"]

SessionsOf = Callable[[str, str, str, Sequence[int], Sequence[int], Sequence[str]], list[str | None]]
"""(market, venue, tr_cd, seqs, recv_ns, symbols) -> each row's ``session`` (``phases.Phases.column``)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Decoded rows of one TR and market: ``table`` has that TR's full schema (``schema_for``)."""

    tr_cd: str
    market: str
    channel: str
    table: pa.Table


def to_batch(
    lay: Layout,
    market: str,
    rows: list[tuple[Any, ...]],
    *,
    cutoff: dt.time,
    seoul: Zone,
    local: Zone,
    sessions: SessionsOf | None = None,
) -> Batch:
    """One TR's typed rows of one market as a ``Batch``; ``cutoff`` is the market's trading-day
    cutoff, ``seoul`` and ``local`` the wall clocks time fields are read in. A row is
    ``(seq, recv_ns, conn_id, symbol, extra, *values)`` (``RowPlan.values``)."""
    cols = list(zip(*rows, strict=True))
    fields: list[pa.Array] = []
    pos = 5
    for _ in lay.ints:
        fields.append(pa.array(cols[pos], pa.int64()))
        pos += 1
    for _, scale, precision in lay.decs:
        fields.append(decimal_array(cols[pos], scale, precision))
        pos += 1
    texts = cols[pos:]
    for values in texts:
        fields.append(pa.array(values, pa.string()))
    table = _assemble(
        lay, market, cols[:5], fields, texts, cutoff=cutoff, seoul=seoul, local=local, sessions=sessions
    )
    return Batch(lay.spec.tr_cd, market, lay.spec.channel, table)


def text_batch(
    lay: Layout,
    market: str,
    head: Sequence[Sequence[Any]],
    values: list[Any],
    *,
    cutoff: dt.time,
    seoul: Zone,
    local: Zone,
    sessions: SessionsOf | None = None,
) -> tuple[Batch, dict[int, str]]:
    """One TR's rows of one market with body values as sent: ``head`` the columns (seq, recv_ns,
    conn_id, symbol, extra), ``values`` every row's field values in row order, one after the
    other. Returns the batch of the good rows and, for each row left out, its ``bad_value`` detail."""
    typer = Typer(lay)
    fields = typer.columns(values)
    first_time = len(lay.ints) + len(lay.decs) + len(lay.strs)
    texts = [()] * len(lay.strs) + [a.to_pylist() for a in fields[first_time:]]
    table = _assemble(
        lay, market, head, fields, texts, cutoff=cutoff, seoul=seoul, local=local, sessions=sessions
    )
    if typer.bad:
        keep = [i not in typer.bad for i in range(table.num_rows)]
        table = table.filter(pa.array(keep, pa.bool_()))
    return Batch(lay.spec.tr_cd, market, lay.spec.channel, table), typer.bad


def _assemble(
    lay: Layout,
    market: str,
    head: Sequence[Sequence[Any]],
    fields: list[pa.Array],
    texts: Sequence[Sequence[Any]],
    *,
    cutoff: dt.time,
    seoul: Zone,
    local: Zone,
    sessions: SessionsOf | None = None,
) -> pa.Table:
    """The table of a batch: ``fields`` in row order, ``texts`` the Python values of the string
    fields (strs, times, dates; only times and dates are read); ``sessions`` gives the ``session``
    column (null without it)."""
    seq, recv, conn, symbol, extra = head
    n = len(seq)
    night = lay.spec.session == NIGHT
    days = night_trading_days(recv) if night else trading_days(recv, cutoff)
    venue = lay.spec.venue or None
    if night:  # the night session's TRs (DH0/DC0): every row is the night session's
        session: list[str | None] = [NIGHT] * n
    elif sessions is not None:
        session = sessions(market, lay.spec.venue, lay.spec.tr_cd, seq, recv, symbol)
    else:
        session = [None] * n
    arrays: dict[str, pa.Array] = {
        "seq": pa.array(seq, pa.int64()),
        "recv_ns": pa.array(recv, pa.int64()),
        "trading_day": pa.array(days, pa.date32()),
        "tr_cd": pa.array([lay.spec.tr_cd] * n, pa.string()),
        "conn_id": pa.array(conn, pa.string()),
        "symbol": pa.array(symbol, pa.string()),
        "venue": pa.array([venue] * n, pa.string()),
        "session": pa.array(session, pa.string()),
        "extra": pa.array(extra, pa.string()),
    }
    names = lay.ints + tuple(d[0] for d in lay.decs) + lay.strs + lay.times + lay.dates
    for name, array in zip(names, fields, strict=True):
        arrays[column_name(name)] = array
    by_name = dict(zip(lay.strs + lay.times + lay.dates, texts, strict=True))
    for src in lay.time_sources:
        zone = seoul if src.clock == "seoul" else local
        dates = by_name[src.date_field] if src.date_field is not None else None
        values = timestamps(by_name[src.field], dates, recv, zone)
        arrays[f"{src.field}_ts"] = pa.array(values, pa.timestamp("ns", tz="Asia/Seoul"))
    return pa.Table.from_arrays([arrays[f.name] for f in lay.schema], schema=lay.schema)
