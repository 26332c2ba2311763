"""A sink's journal replica and ledger checked against the collector's: the same records, each once,
and the same day's coverage and gaps (the sink names a connection ``<collector>.<conn_id>``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from gatherer.capture import Record, iter_records, worker_segments

from .procs import ENV


def records(root: Path, journal: str) -> list[Record]:
    """Every record of one journal (``w00`` on a collector, ``c1.w00`` on a sink), in file order."""
    out: list[Record] = []
    for _n, path in worker_segments(root, journal):
        out.extend(iter_records(path))
    return out


def journal_days(root: Path, journal: str) -> dict[str, list[int]]:
    """Day directory -> the seqs of the journal's records in it."""
    out: dict[str, list[int]] = {}
    for _n, path in worker_segments(root, journal):
        out.setdefault(path.parent.name, []).extend(r.seq for r in iter_records(path))
    return out


def assert_same_journal(local: Path, remote: Path, worker: str = "w00", collector: str = "c1") -> None:
    """The replica holds the collector's journal: every record once, in order, in the same days."""
    mine, theirs = records(local, worker), records(remote, f"{collector}.{worker}")
    assert mine, "the collector's journal is empty"
    seqs = [r.seq for r in theirs]
    assert len(seqs) == len(set(seqs)), "a record is in the replica twice"
    assert seqs == [r.seq for r in mine], "the replica's records are not the journal's"
    assert theirs == mine  # kind, receive time, connection and payload too
    assert journal_days(local, worker) == journal_days(remote, f"{collector}.{worker}")


async def journal_verify(root: Path) -> str:
    """``gatherer journal verify`` on a root's journal, as a user runs it; its output (exit 0 asserted)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "journal", "verify", str(root / "journal"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV, start_new_session=True,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, (out + err).decode()[-2000:]
    return out.decode()


def _unprefixed(table: pa.Table, prefix: str, columns: tuple[str, ...]) -> list[dict[str, object]]:
    rows = table.to_pylist()
    for row in rows:
        for name in columns:
            value = row.get(name)
            if isinstance(value, str) and value.startswith(prefix):
                row[name] = value[len(prefix) :]
    return rows


def ledger_rows(root: Path, day: dt.date, name: str, prefix: str = "") -> list[dict[str, object]]:
    """One ledger file's rows, with a sink's ``<collector>.`` taken off its connection names."""
    table = pq.read_table(root / "ledger" / f"date={day.isoformat()}" / f"{name}.parquet")
    return _unprefixed(table, prefix, ("id", "conn_id", "gap_id", "detail"))


def assert_same_ledger(local: Path, remote: Path, day: dt.date, collector: str = "c1") -> None:
    """The sink's ledger of ``day`` says what the collector's says: coverage, gaps and dark time."""
    for name in ("coverage", "gaps", "dark"):
        want = ledger_rows(local, day, name)
        got = ledger_rows(remote, day, name, prefix=f"{collector}.")
        if name == "gaps":  # backfill results stay on the collector (it fetched them over REST)
            for row in [*want, *got]:
                for field in ("status", "filled", "rest_tr", "detail"):
                    row.pop(field, None)
        assert got == want, f"{name}.parquet differs"
    coverage = ledger_rows(local, day, "coverage")
    assert coverage and sum(int(str(r["frames"])) for r in coverage) > 0
