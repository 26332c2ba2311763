"""The Python read API: one day's rows of a market and channel, as Arrow, pandas or polars.

``gatherer.read("2026-11-24", "kospi", "trade", symbols=["005930"])`` reads
``<root>/parquet/date=2026-11-24/market=kospi/channel=trade/*.parquet`` with pyarrow.dataset,
filters symbols in the scan (row-group statistics skip the rest, since each file, or each sorted
run of a file, is sorted by symbol), and returns the rows sorted by (symbol, recv_ns). Values are
exact: decimals stay decimals (``decimal.Decimal`` in pandas), integers stay int64. It only reads.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, overload

import pyarrow as pa

from gatherer.errors import GathererError
from gatherer.sinks.partitions import read_partition


@overload
def read(
    date: dt.date | str,
    market: str,
    channel: str,
    symbols: Iterable[str] | str | None = None,
    columns: Iterable[str] | None = None,
    *,
    root: Path | str = "./data",
    as_: Literal["arrow"] = "arrow",
) -> pa.Table: ...


@overload
def read(
    date: dt.date | str,
    market: str,
    channel: str,
    symbols: Iterable[str] | str | None = None,
    columns: Iterable[str] | None = None,
    *,
    root: Path | str = "./data",
    as_: Literal["pandas", "polars"],
) -> Any: ...


def read(
    date: dt.date | str,
    market: str,
    channel: str,
    symbols: Iterable[str] | str | None = None,
    columns: Iterable[str] | None = None,
    *,
    root: Path | str = "./data",
    as_: Literal["arrow", "pandas", "polars"] = "arrow",
) -> pa.Table | Any:
    """One trading day of ``market``/``channel`` (e.g. ``kospi``/``book``), sorted by (symbol, recv_ns).

    ``symbols`` keeps only those symbols (one string is one symbol); ``columns`` keeps only those
    columns, in that order. ``as_`` picks the result type; pandas and polars must be installed.
    """
    if as_ not in ("arrow", "pandas", "polars"):
        raise ValueError(f"as_ must be 'arrow', 'pandas' or 'polars', not {as_!r}")
    if as_ != "arrow" and importlib.util.find_spec(as_) is None:
        raise GathererError(f"read(..., as_={as_!r}) needs {as_}, which is not installed: pip install {as_}")
    day = dt.date.fromisoformat(date) if isinstance(date, str) else date
    wanted = [symbols] if isinstance(symbols, str) else symbols
    table = read_partition(root, day, market, channel, symbols=wanted, columns=columns)
    if as_ == "pandas":
        return table.to_pandas()
    if as_ == "polars":
        import polars

        return polars.from_arrow(table)
    return table
