"""The consolidated-tape check: does LS's KRX+NXT feed agree with the venues' own feeds?

Built from the day's Parquet rows (so it can be built again at any time and always says the
same), written next to the coverage as ``ledger/date=D/tape.parquet``, one row per check and
symbol (docs/formats.md, "The consolidated-tape check"):

- ``us3_krx`` / ``us3_nxt``: every US3 print whose ``exchname`` names KRX (NXT) is matched to a
  print of the venue's own trade feed (S3_/K3_; NS3) of the same symbol with the same
  ``chetime``, ``price`` and ``cvolume``, as multisets: ``checked`` US3 prints, ``mismatches`` those
  with no venue print left to match. Checked only for a symbol whose venue feed was recorded, and
  only for prints whose exchange time (``chetime``, whole seconds) is at or after the first whole
  second a second or more after both feeds' first acknowledgement that day (``MARGIN_NS``): both
  copies of a print carry the same ``chetime``, so none is cut in two by the window, however late
  one connection was read.
- ``krx_us3`` / ``nxt_us3``: the other way: venue prints with no US3 print (checked only for a
  symbol US3 was recorded for).
- ``uh1_levels``: every UH1 row's consolidated quantities equal KRX + NXT on each of the ten
  levels of both sides and in the totals (``unt_offerremN = krx_offerremN + nxt_offerremN`` …);
  ``mismatches`` counts rows where any one differs.
- ``uh1_krx`` / ``uh1_nxt``: every UH1 row's price ladder with its KRX (NXT) quantities is a book
  KRX's H1_/HA_ (NXT's NH1) feed showed that day (as a set: UH1 repeats one venue's side when the
  other moves); KRX's side only while KRX's book is live (``session`` an opening, continuous,
  closing or halted phase), both from a second after both feeds' first acknowledgement.

A feed dark through an outage while the other streamed shows as mismatches: the counts are data
to read with the coverage and ``dark.parquet``, not an alarm by themselves. The comparisons run in
DuckDB over the day's files (multisets as prints numbered among their equals, then anti-joins), so
a full-market day is not walked row by row in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gatherer.errors import GathererError
from gatherer.files import write_parquet_atomic
from gatherer.ledger.scan import Ledger
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.keys import symbol_of

if TYPE_CHECKING:
    import duckdb

TAPE_SCHEMA = pa.schema(
    [
        ("check", pa.string()),
        ("market", pa.string()),
        ("symbol", pa.string()),
        ("checked", pa.int64()),
        ("mismatches", pa.int64()),
    ]
)
_KRX_TRADES = ("S3_", "K3_")
_LEVELS = range(1, 11)


def _files(root: Path, day: dt.date, channel: str) -> Iterator[tuple[str, Path]]:
    base = root / "parquet" / f"date={day.isoformat()}"
    for market_dir in sorted(base.glob("market=*")):
        for path in sorted((market_dir / f"channel={channel}").glob("*.parquet")):
            yield market_dir.name.removeprefix("market="), path


def _tr_of(path: Path) -> str:
    meta = pq.read_schema(path).metadata or {}
    return (meta.get(b"gatherer.tr_cd") or meta.get(b"tr_cd") or b"").decode()


_FEED_TRS = {"krx": _KRX_TRADES, "nxt": ("NS3",), "us3_krx": ("US3",), "us3_nxt": ("US3",)}
_FEED_ROWS = {
    "krx": "true",
    "nxt": "true",
    "us3_krx": "upper(trim(coalesce(exchname, ''))) <> 'NXT'",
    "us3_nxt": "upper(trim(coalesce(exchname, ''))) = 'NXT'",
}
"""Which rows of the feed's files are its prints (US3 split by the venue its ``exchname`` names)."""
MARGIN_NS = 1_000_000_000
"""Prints within this long after the later of the two feeds' first acknowledgement are not compared:
frames of one print travel on different connections and may straddle an acknowledgement."""


def _acks(ledger: Ledger) -> dict[tuple[str, str], int]:
    """(tr_cd, symbol) -> the first acknowledgement of its registration that day."""
    out: dict[tuple[str, str], int] = {}
    for (tr_cd, tr_key), cov in ledger.coverage.items():
        if cov.acked_ns is None or tr_cd not in CATALOG:
            continue
        try:
            symbol = symbol_of(tr_cd, tr_key)
        except ValueError:
            continue
        key = (tr_cd, symbol)
        out[key] = min(out.get(key, cov.acked_ns), cov.acked_ns)
    return out


def _windows(acks: dict[tuple[str, str], int], left: tuple[str, ...], right: tuple[str, ...]) -> pa.Table:
    """Per symbol both feeds were acknowledged for: compare from a margin after the later."""

    def since(trs: tuple[str, ...], symbol: str) -> int | None:
        times = [acks[(tr, symbol)] for tr in trs if (tr, symbol) in acks]
        return min(times) if times else None

    symbols, starts = [], []
    for symbol in sorted({s for _tr, s in acks}):
        a, b = since(left, symbol), since(right, symbol)
        if a is not None and b is not None:
            symbols.append(symbol)
            starts.append(-(-(max(a, b) + MARGIN_NS) // _SECOND) * _SECOND)  # a whole second: chetime's
    return pa.table({"symbol": symbols, "start_ns": starts}, schema=_WINDOW_SCHEMA)


_SECOND = 1_000_000_000
_WINDOW_SCHEMA = pa.schema([("symbol", pa.string()), ("start_ns", pa.int64())])


def _trade_rows(root: Path, day: dt.date, acks: dict[tuple[str, str], int]) -> list[dict[str, object]]:
    """The four print checks, as multisets (DuckDB: each print numbered among its equals, then an
    anti-join on the numbered prints)."""
    files: dict[str, list[str]] = {"krx": [], "nxt": [], "us3": []}
    for _market, path in _files(root, day, "trade"):
        tr = _tr_of(path)
        key = "krx" if tr in _KRX_TRADES else "nxt" if tr == "NS3" else "us3" if tr == "US3" else None
        if key is not None:
            files[key].append(str(path))
    out: list[dict[str, object]] = []
    if not files["us3"] or not (files["krx"] or files["nxt"]):
        return out
    import duckdb  # here, not at the top: the store process imports the ledger's chains, not DuckDB

    con = duckdb.connect()
    try:
        market_of = _symbol_markets(con, [f for fs in files.values() for f in fs])
        for check, left, right in (
            ("us3_krx", "us3_krx", "krx"),
            ("us3_nxt", "us3_nxt", "nxt"),
            ("krx_us3", "krx", "us3_krx"),
            ("nxt_us3", "nxt", "us3_nxt"),
        ):
            left_files = files["us3" if left.startswith("us3") else left]
            right_files = files["us3" if right.startswith("us3") else right]
            if not left_files or not right_files:
                continue
            con.register("starts", _windows(acks, _FEED_TRS[left], _FEED_TRS[right]))

            def prints(feed: str, param: str) -> str:
                return f"""select p.symbol, chetime, price, cvolume,
                           row_number() over (partition by p.symbol, chetime, price, cvolume) as n
                    from read_parquet(${param}, union_by_name = true) p
                    join starts s on s.symbol = p.symbol and epoch_ns(p.chetime_ts) >= s.start_ns
                    where {_FEED_ROWS[feed]}"""

            sql = f"""
                with l as ({prints(left, "l")}), r as ({prints(right, "r")})
                select l.symbol, count(*), count(*) filter (where r.symbol is null)
                from l left join r on r.symbol = l.symbol and r.n = l.n
                    and r.chetime is not distinct from l.chetime and r.price is not distinct from l.price
                    and r.cvolume is not distinct from l.cvolume
                group by l.symbol order by l.symbol
            """
            rows = con.execute(sql, {"l": left_files, "r": right_files}).fetchall()
            con.unregister("starts")
            out.extend(
                {"check": check, "market": market_of.get(str(sym), ""), "symbol": str(sym),
                 "checked": int(n), "mismatches": int(bad)}
                for sym, n, bad in rows
            )  # fmt: skip
    finally:
        con.close()
    return out


def _uh1_rows(root: Path, day: dt.date) -> list[dict[str, object]]:
    """``uh1_levels``: UH1 rows whose consolidated quantities are not KRX + NXT on every level."""
    out: list[dict[str, object]] = []
    for market, path in _files(root, day, "book"):
        if _tr_of(path) != "UH1":
            continue
        table = pq.read_table(path)
        wrong = pa.array([False] * table.num_rows)
        for side in ("offer", "bid"):
            for name in [f"{side}rem{i}" for i in _LEVELS] + [f"tot{side}rem"]:
                krx = pc.fill_null(table.column(f"krx_{name}"), 0)
                nxt = pc.fill_null(table.column(f"nxt_{name}"), 0)
                unt = pc.fill_null(table.column(f"unt_{name}"), 0)
                differs = pc.fill_null(pc.not_equal(unt, pc.add(krx, nxt)), True)
                wrong = pc.or_(wrong, differs)
        counts = pa.table({"symbol": table.column("symbol"), "bad": pc.cast(wrong, pa.int64())})
        for row in counts.group_by("symbol").aggregate([("bad", "count"), ("bad", "sum")]).to_pylist():
            out.append(
                {"check": "uh1_levels", "market": market, "symbol": row["symbol"],
                 "checked": row["bad_count"], "mismatches": row["bad_sum"]}
            )  # fmt: skip
    return out


_LADDER = [f"{n}{i}" for n in ("offerho", "bidho") for i in _LEVELS]
_KRX_PHASES = ("pre_open", "continuous", "closing_auction", "halted")
"""UH1 rows whose KRX side is compared with KRX's own book: KRX's order book is live then."""


def _uh1_sides(root: Path, day: dt.date, acks: dict[tuple[str, str], int]) -> list[dict[str, object]]:
    """``uh1_krx`` / ``uh1_nxt``: UH1 rows whose price ladder and KRX (NXT) quantities on all ten
    levels are no book state KRX's H1_/HA_ (NXT's NH1) feed showed that day (DuckDB: an anti-join)."""
    files: dict[str, list[str]] = {"UH1": [], "krx": [], "nxt": []}
    for _market, path in _files(root, day, "book"):
        tr = _tr_of(path)
        key = "UH1" if tr == "UH1" else "nxt" if tr == "NH1" else "krx" if tr in ("H1_", "HA_") else None
        if key is not None:
            files[key].append(str(path))
    out: list[dict[str, object]] = []
    if not files["UH1"]:
        return out
    rems = [f"{n}{i}" for n in ("offerrem", "bidrem") for i in _LEVELS]
    krx_phases = ", ".join(f"'{p}'" for p in _KRX_PHASES)
    import duckdb  # here, not at the top: the store process imports the ledger's chains, not DuckDB

    con = duckdb.connect()
    try:
        market_of = _symbol_markets(con, files["UH1"])
        for side, venue_trs in (("krx", ("H1_", "HA_")), ("nxt", ("NH1",))):
            if not files[side]:
                continue
            con.register("starts", _windows(acks, ("UH1",), venue_trs))
            on = " and ".join(
                [f"u.{c} is not distinct from v.{c}" for c in _LADDER]
                + [f"u.{side}_{c} is not distinct from v.{c}" for c in rems]
            )
            phase = f"u.session in ({krx_phases})" if side == "krx" else "true"
            sql = f"""
                with u as (select * from read_parquet($uh1, union_by_name = true)),
                     v as (select distinct symbol, {", ".join(_LADDER + rems)}
                           from read_parquet($venue, union_by_name = true))
                select u.symbol, count(*), count(*) filter (where v.symbol is null)
                from u join starts s on s.symbol = u.symbol and u.recv_ns >= s.start_ns
                left join v on v.symbol = u.symbol and {on}
                where {phase}
                group by u.symbol order by u.symbol
            """
            rows = con.execute(sql, {"uh1": files["UH1"], "venue": files[side]}).fetchall()
            con.unregister("starts")
            out.extend(
                {"check": f"uh1_{side}", "market": market_of.get(str(sym), ""), "symbol": str(sym),
                 "checked": int(n), "mismatches": int(bad)}
                for sym, n, bad in rows
            )  # fmt: skip
    finally:
        con.close()
    return out


def _symbol_markets(con: duckdb.DuckDBPyConnection, files: list[str]) -> dict[str, str]:
    rows = con.execute(
        "select distinct symbol, regexp_extract(filename, 'market=([^/]+)', 1)"
        " from read_parquet($f, union_by_name = true, filename = true)",
        {"f": files},
    ).fetchall()
    return {str(s): str(m) for s, m in rows}


def tape_table(root: Path, day: dt.date, ledger: Ledger) -> pa.Table:
    """The day's consolidated-tape check (see the module docstring); ``ledger`` gives each
    registration's first acknowledgement, from which two feeds are compared."""
    acks = _acks(ledger)
    rows = [*_trade_rows(root, day, acks), *_uh1_rows(root, day), *_uh1_sides(root, day, acks)]
    return pa.Table.from_pylist(rows, schema=TAPE_SCHEMA)


class TapeError(GathererError):
    """The day's Parquet files could not be compared (unreadable, or a column missing)."""


def write_tape(root: Path, day: dt.date, base: Path, ledger: Ledger) -> pa.Table:
    """Build the day's tape check and (re)write ``base/tape.parquet``; returns the table. Raises
    ``TapeError`` naming the day and why when the files cannot be compared."""
    import duckdb

    try:
        table = tape_table(root, day, ledger)
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        raise TapeError(f"the consolidated-tape check of {day} could not be built: {exc}") from exc
    write_parquet_atomic(table, base / "tape.parquet")
    return table
