"""SQL over the archive (DuckDB views) and exports in the original tool's CSV shape.

Its job is reading: it opens Parquet files the sinks wrote and never writes into the data root.
Views, one per channel found on disk, each over every day and market::

    book, trade, broker, vi, auction, status, ...    parquet/*/*/channel=<c>/*.parquet
    masters                                          masters/date=*/<market>.parquet
    coverage, gaps, dark                             ledger/date=*/{coverage,gaps,dark}.parquet
    trade_rest                          backfill/date=*/market=*/channel=trade/source=rest/*.parquet

with the hive columns ``date`` (DATE), ``market`` and ``channel`` added, files combined by
column name (a channel carrying two TRs, e.g. FH0 and FH9, reads as one table with ``tr_cd``).

The CSV export reproduces the original gatherer's rows (LS_OPENAPI.md §6.3): the TR's key
column, the receive time as ``time.time()`` seconds, then the fields it stored, in its order;
no header unless asked; decimals as their exact text, nulls empty; cp949 on request (§6.2).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gatherer.errors import GathererError
from gatherer.sinks.partitions import read_partition
from gatherer.venues.ls.catalog import CATALOG


class QueryError(GathererError):
    """A query or an export failed; the message names the view, file or value."""


def _levels(names: Sequence[str], count: int) -> list[str]:
    """``offerho1..N, offerrem1..N`` (each name through all levels, then the next name)."""
    return [f"{n}{i}" for n in names for i in range(1, count + 1)]


def _interleaved(names: Sequence[str], count: int) -> list[str]:
    """``offerno1, bidno1, …, offerno2, …`` (all names for level 1, then level 2)."""
    return [f"{n}{i}" for i in range(1, count + 1) for n in names]


_H1_CSV = ["hotime", *_levels(["offerho", "offerrem", "bidho", "bidrem"], 10)]
_H1_CSV += ["totofferrem", "totbidrem", "donsigubun", "alloc_gubun"]
_S3_CSV = (
    "chetime sign change drate price opentime open hightime high lowtime low cgubun cvolume volume "
    "value mdvolume mdchecnt msvolume mschecnt cpower w_avrg offerho bidho status jnilvolume"
).split()
_K1_CSV = _interleaved(
    "offerno bidno offertrad bidtrad tradmdvol tradmsvol tradmdrate tradmsrate tradmdcha tradmscha".split(), 5
)
_K1_CSV += "ftradmdvol ftradmsvol ftradmdrate ftradmsrate ftradmdcha ftradmscha".split()
_K1_CSV += _interleaved("tradmdval tradmsval tradmdavg tradmsavg".split(), 5)
_K1_CSV += "ftradmdval ftradmsval ftradmdavg ftradmsavg".split()
_FH_CSV = ["hotime", *_levels(["offerho", "offerrem", "offercnt", "bidho", "bidrem", "bidcnt"], 5)]
_FH_CSV += "totofferrem totbidrem totoffercnt totbidcnt danhochk alloc_gubun".split()
_FC_CSV = (
    "chetime sign change drate price open high low cgubun cvolume volume value mdvolume mdchecnt "
    "msvolume mschecnt cpower offerho1 bidho1 openyak k200jisu theoryprice kasis sbasis ibasis "
    "openyakcha jgubun jnilvolume"
).split()
_OC_CSV = (
    "chetime sign change drate price open high low cgubun cvolume volume value mdvolume mdchecnt "
    "msvolume mschecnt cpower offerho1 bidho1 openyak k200jisu eqva theoryprice impv openyakcha "
    "timevalue jgubun jnilvolume"
).split()
_OVH_CSV = ["hotime", *_levels(["offerho", "offerrem", "offerno", "bidho", "bidrem", "bidno"], 5)]
_OVH_CSV += "totoffercnt totbidcnt totofferrem totbidrem".split()
_OVC_CSV = (
    "ovsdate kordate trdtm kortm curpr ydiffpr ydiffSign open high low chgrate trdq totq cgubun "
    "mdvolume msvolume ovsmkend"
).split()

LEGACY_CSV_FIELDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("H1_", "HA_"), tuple(_H1_CSV)),
    **dict.fromkeys(("S3_", "K3_"), tuple(_S3_CSV)),
    **dict.fromkeys(("K1_", "OK_"), tuple(_K1_CSV)),
    **dict.fromkeys(("FH0", "FH9", "OH0"), tuple(_FH_CSV)),
    **dict.fromkeys(("FC0", "FC9"), tuple(_FC_CSV)),
    "OC0": tuple(_OC_CSV),
    **dict.fromkeys(("OVH", "WOH"), tuple(_OVH_CSV)),
    **dict.fromkeys(("OVC", "WOC"), tuple(_OVC_CSV)),
}
"""TR -> the fields the original gatherer wrote after its key and ``time.time()`` (§6.3).
FH9/FC9 carry FH0/FC0's names (§3.2). TRs it never stored export every catalog field in order."""


def csv_columns(tr_cd: str) -> tuple[str, ...]:
    """The CSV columns of a TR: key field, ``time``, then the fields (§6.3 order where it applies)."""
    spec = CATALOG.get(tr_cd)
    key = spec.key_field if spec is not None and spec.key_field else "symbol"
    if tr_cd in LEGACY_CSV_FIELDS:
        fields = LEGACY_CSV_FIELDS[tr_cd]
    elif spec is not None:
        fields = tuple(n for n in spec.names if n != key)
    else:
        raise QueryError(f"no CSV layout for TR {tr_cd!r}; export it as parquet")
    return (key, "time", *fields)


# ---------------------------------------------------------------------------------------------
# DuckDB
# ---------------------------------------------------------------------------------------------


def _sql_str(s: str | Path) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def connect(root: Path | str = "./data") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per channel on disk, and ``masters``."""
    base = Path(root)
    if not base.is_dir():
        raise QueryError(f"no data root at {base}; pass the storage root (default ./data)")
    con = duckdb.connect()
    channels = sorted({p.name.split("=", 1)[1] for p in base.glob("parquet/date=*/market=*/channel=*")})
    try:
        for channel in channels:
            if not channel.isidentifier():
                continue  # a directory that is not ours; a view name must be a plain word
            glob = base / "parquet" / "*" / "*" / f"channel={channel}" / "*.parquet"
            con.execute(
                f'CREATE VIEW "{channel}" AS SELECT * FROM read_parquet({_sql_str(glob)}, '
                "hive_partitioning = true, union_by_name = true)"
            )
        # What is missing and what was fetched again: the ledger and the backfilled trades.
        for view, pattern in (
            ("coverage", "ledger/date=*/coverage.parquet"),
            ("gaps", "ledger/date=*/gaps.parquet"),
            ("dark", "ledger/date=*/dark.parquet"),
            ("trade_rest", "backfill/date=*/market=*/channel=trade/source=rest/*.parquet"),
        ):
            if any(base.glob(pattern)):
                con.execute(
                    f'CREATE VIEW "{view}" AS SELECT * FROM read_parquet({_sql_str(base / pattern)}, '
                    "hive_partitioning = true, union_by_name = true)"
                )
        if any(base.glob("masters/date=*/*.parquet")):
            glob = base / "masters" / "date=*" / "*.parquet"
            con.execute(
                "CREATE VIEW masters AS SELECT * EXCLUDE (filename), "
                "regexp_extract(filename, '([^/\\\\]+)\\.parquet$', 1) AS market "
                f"FROM read_parquet({_sql_str(glob)}, hive_partitioning = true, union_by_name = true, "
                "filename = true)"
            )
    except duckdb.Error as e:
        con.close()
        raise QueryError(f"could not open the archive under {base}: {e}") from e
    return con


def run_query(root: Path | str, sql: str) -> pa.Table:
    """Run one SQL statement against the views of ``connect(root)``; the result as Arrow."""
    con = connect(root)
    try:
        relation = con.sql(sql)
        if relation is None:  # a statement without a result (SET, CREATE VIEW, ...)
            return pa.table({})
        # DuckDB 2 names it to_arrow_table; 1.x calls it arrow (pyproject: duckdb>=1.0).
        fetch = getattr(relation, "to_arrow_table", None) or getattr(relation, "arrow")  # noqa: B009
        table: pa.Table = fetch()
        return table
    except duckdb.Error as e:
        raise QueryError(f"query failed: {e}") from e
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


def _as_text(col: pa.ChunkedArray | pa.Array) -> list[str]:
    """Each value as the text the venue sent: integers and decimals exactly, nulls empty."""
    t = col.type
    if pa.types.is_time(t):
        out = [v.strftime("%H%M%S") if v is not None else "" for v in col.to_pylist()]
        return out
    if pa.types.is_date(t):
        text = pc.strftime(col, format="%Y%m%d")
    elif pa.types.is_floating(t):
        return [repr(v) if v is not None else "" for v in col.to_pylist()]
    else:
        text = pc.cast(col, pa.string())
    return [v if v is not None else "" for v in text.to_pylist()]


def _recv_seconds(col: pa.ChunkedArray) -> list[str]:
    # The original wrote time.time() through csv.writer, i.e. repr of a float of seconds.
    return [repr(ns / 1e9) for ns in col.to_pylist()]


_CSV_CHUNK_ROWS = 65_536


def _csv_rows(table: pa.Table) -> Iterator[list[str]]:
    """Rows in receive order, each in its own TR's column order (a channel may carry two TRs).

    Converted to text a chunk at a time, so Python objects stay bounded on a whole-day export.
    """
    table = table.sort_by([("recv_ns", "ascending"), ("symbol", "ascending"), ("seq", "ascending")])
    for start in range(0, table.num_rows, _CSV_CHUNK_ROWS):
        chunk = table.slice(start, _CSV_CHUNK_ROWS)
        trs = chunk["tr_cd"].to_pylist()
        per_tr: dict[str, Iterator[tuple[str, ...]]] = {}
        for tr_cd in set(trs):
            part = chunk.filter(pc.equal(chunk["tr_cd"], tr_cd))
            cols: list[list[str]] = []
            for name in csv_columns(tr_cd):
                if name == "time":
                    cols.append(_recv_seconds(part["recv_ns"]))
                elif name in part.column_names:
                    cols.append(_as_text(part[name]))
                else:
                    cols.append([""] * part.num_rows)  # a field this capture did not carry
            per_tr[tr_cd] = zip(*cols, strict=True)
        for tr_cd in trs:
            yield list(next(per_tr[tr_cd]))


def export(
    root: Path | str,
    day: dt.date | str,
    market: str,
    channel: str,
    fmt: Literal["csv", "parquet"],
    out_path: Path | str,
    *,
    encoding: Literal["utf-8", "cp949"] = "utf-8",
    symbols: Iterable[str] | None = None,
    tr_cd: str | None = None,
    header: bool = False,
) -> int:
    """Write one day's market/channel (optionally some symbols, one TR) to a file; returns rows.

    The file is written beside ``out_path`` under a temporary name and renamed when complete.
    """
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    table = read_partition(root, day, market, channel, symbols=symbols)
    if tr_cd is not None:
        table = table.filter(pc.equal(table["tr_cd"], tr_cd))
    out = Path(out_path)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp, compression="zstd")
        elif fmt == "csv":
            _write_csv(table, tmp, encoding, header)
        else:
            raise QueryError(f"unknown export format {fmt!r}; expected 'csv' or 'parquet'")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return int(table.num_rows)


def _write_csv(table: pa.Table, path: Path, encoding: str, header: bool) -> None:
    trs = sorted(set(table["tr_cd"].to_pylist()))
    if header and len(trs) > 1:
        raise QueryError(f"the channel holds several TRs ({', '.join(trs)}); pass tr_cd= to export a header")
    # newline='' and csv's \r\n line ends, as the original opened its files (§6.2).
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        if header and trs:
            writer.writerow(csv_columns(trs[0]))
        for n, row in enumerate(_csv_rows(table)):
            try:
                writer.writerow(row)
            except UnicodeEncodeError as e:
                raise QueryError(f"row {n} has text {encoding} cannot hold ({e}); export as utf-8") from e
