"""Reading a lake back in tests: a day's quarantine lines, and two roots' days compared row for row."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gatherer.sinks import file_metadata
from gatherer.sinks.parquet import RUN_ROWS_KEY, SORT_KEYS


def read_quarantine(root: Path | str, day: dt.date) -> list[dict[str, object]]:
    """Every whole quarantine line of a day, all workers, in file then line order."""
    out: list[dict[str, object]] = []
    base = Path(root) / "quarantine" / f"date={day.isoformat()}"
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a crash
    return out


def _day_tables(root: Path, day: dt.date) -> dict[str, list[tuple[str, pa.Table, list[int]]]]:
    """market/channel/tr_cd -> [(file name, table, rows per sorted run)] for one day of a root."""
    out: dict[str, list[tuple[str, pa.Table, list[int]]]] = {}
    base = Path(root) / "parquet" / f"date={day.isoformat()}"
    for path in sorted(base.glob("market=*/channel=*/*.parquet")):
        market, channel = path.parts[-3].split("=", 1)[1], path.parts[-2].split("=", 1)[1]
        meta = file_metadata(path)
        t = pq.read_table(path)
        runs = [int(n) for n in meta[RUN_ROWS_KEY].split(",")] if RUN_ROWS_KEY in meta else [t.num_rows]
        out.setdefault(f"{market}/{channel}/{meta.get('tr_cd', '?')}", []).append((path.name, t, runs))
    return out


def compare_days(root_a: Path | str, root_b: Path | str, day: dt.date, *, by_file: bool = False) -> list[str]:
    """Differences between one day under two roots; empty when they hold the same rows.

    Per market/channel/TR, the rows of all files are compared in (symbol, recv_ns, seq) order,
    column by column, values and types. With ``by_file`` the file names must match too and each
    file is compared in its stored order (a rebuild of the same batches with the same settings).
    Every file is also checked to be sorted: as a whole, or, in a file that memory made write in
    several runs (``gatherer.run_rows``), each run, the runs adding up to the file's rows.
    """
    a, b = _day_tables(Path(root_a), day), _day_tables(Path(root_b), day)
    diffs: list[str] = []
    for key in sorted(a.keys() | b.keys()):
        if key not in a or key not in b:
            diffs.append(f"{key}: only in {root_a if key in a else root_b}")
            continue
        for side, files in ((root_a, a[key]), (root_b, b[key])):
            for name, t, runs in files:
                if sum(runs) != t.num_rows:
                    diffs.append(f"{key}/{name} under {side}: runs of {runs} rows, but {t.num_rows} rows")
                starts = [sum(runs[:i]) for i in range(len(runs))]
                if not all(_is_sorted(t.slice(at, n)) for at, n in zip(starts, runs, strict=True)):
                    diffs.append(f"{key}/{name} under {side}: rows are not in (symbol, recv_ns, seq) order")
        if by_file:
            names_a, names_b = [f[0] for f in a[key]], [f[0] for f in b[key]]
            if names_a != names_b:
                diffs.append(f"{key}: files differ: {names_a} vs {names_b}")
                continue
            for (name, ta, _), (_, tb, _) in zip(a[key], b[key], strict=True):
                diffs.extend(_compare_tables(f"{key}/{name}", ta, tb))
        else:
            ta = pa.concat_tables([f[1] for f in a[key]], promote_options="permissive")
            tb = pa.concat_tables([f[1] for f in b[key]], promote_options="permissive")
            order = [(k, "ascending") for k in SORT_KEYS]
            diffs.extend(_compare_tables(key, ta.sort_by(order), tb.sort_by(order)))
    return diffs


def _is_sorted(t: pa.Table) -> bool:
    if t.num_rows < 2:
        return True
    order = pc.sort_indices(t, sort_keys=[(k, "ascending") for k in SORT_KEYS])
    return bool(pc.all(pc.equal(order, pa.array(range(t.num_rows), order.type))).as_py())


def _compare_tables(where: str, ta: pa.Table, tb: pa.Table) -> list[str]:
    sa, sb = ta.schema.remove_metadata(), tb.schema.remove_metadata()
    if not sa.equals(sb):
        return [f"{where}: schemas differ:\n{sa}\nvs\n{sb}"]
    if ta.num_rows != tb.num_rows:
        return [f"{where}: {ta.num_rows} rows vs {tb.num_rows}"]
    out = []
    for name in sa.names:
        ca, cb = ta[name].combine_chunks(), tb[name].combine_chunks()
        if ca.equals(cb):
            continue
        na, nb = pc.is_null(ca), pc.is_null(cb)
        differs = pc.or_(pc.xor(na, nb), pc.fill_null(pc.not_equal(ca, cb), False))
        idx = pc.indices_nonzero(differs)
        first = idx[0].as_py() if len(idx) else 0
        out.append(
            f"{where}: column {name} differs in {len(idx)} row(s), first at row {first} "
            f"(symbol {ta['symbol'][first].as_py()}, seq {ta['seq'][first].as_py()}): "
            f"{ca[first].as_py()!r} vs {cb[first].as_py()!r}"
        )
    return out
