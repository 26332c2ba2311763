"""The store side of the pipeline: the live store and a rebuild are one code path, so a rebuild of a
recorded day lands on exactly the rows and quarantine lines the live store wrote; what was there
before is replaced, other days are untouched, a torn journal is reported, no staging is left."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
from pathlib import Path

import msgspec
import pytest

from gatherer.capture import Journal, Kind
from gatherer.clock import SEOUL, ManualClock, trading_day_of
from gatherer.run.pipeline import RebuildError, rebuild_day, store_worker
from gatherer.sim.market import MarketModel
from gatherer.sim.universe import build_universe
from gatherer.venues.ls.keys import format_tr_key

from ..helpers.lake import compare_days, read_quarantine

START = dt.datetime(2026, 11, 25, 10, 0, tzinfo=SEOUL)
DAY = START.date()
BROKEN = b'{"header": {"tr_cd": "H1_"}, "body": "broken"}'


async def write_journal(root: Path, worker: str, n: int, seed: int) -> None:
    """``n`` simulated KOSPI frames and every 500th one broken, journaled as a worker would."""
    universe = build_universe(0, as_of=DAY)
    stocks = universe.instruments["kospi"][:12]
    model = MarketModel(iter(stocks), random.Random(seed))
    now = int(START.timestamp() * 1e9)
    journal = await Journal.open(root, worker, clock=ManualClock(now))
    for i in range(n):
        now += 1_000_000
        if i % 500 == 499:
            journal.append(Kind.FRAME, f"{worker}-c000", BROKEN, now)
            continue
        inst = stocks[i % len(stocks)]
        for tr_cd, body in model.events("kospi", inst.symbol, now, {"H1_", "S3_"}):
            header = {"tr_cd": tr_cd, "tr_key": format_tr_key(tr_cd, inst.symbol)}
            payload = msgspec.json.encode({"header": header, "body": body})
            journal.append(Kind.FRAME, f"{worker}-c00{i % 2}", payload, now)
    await journal.close()


def live_store(root: Path, worker: str) -> dict[str, int]:
    stats = store_worker(
        root, worker, version="t", venue="t", cutoffs=None, stop_requested=iter(lambda: True, False)
    )
    return {"rows": stats.rows, "quarantined": stats.quarantined}


async def test_a_rebuild_lands_on_the_live_stores_rows(tmp_path: Path) -> None:
    live = tmp_path / "live"
    for worker, seed in (("w00", 1), ("w01", 2)):
        await write_journal(live, worker, 3000, seed)
    figures = [live_store(live, w) for w in ("w00", "w01")]
    assert all(f["rows"] > 0 and f["quarantined"] == 6 for f in figures)

    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(live, rebuilt)
    junk = next((rebuilt / "parquet" / f"date={DAY}").rglob("*.parquet"))
    junk.write_bytes(b"stale")  # whatever was there before is replaced
    other_day = rebuilt / "parquet" / f"date={DAY - dt.timedelta(days=1)}" / "market=kospi" / "channel=trade"
    other_day.mkdir(parents=True)
    (other_day / "w00-0001.parquet").write_bytes(b"untouched")

    seen: list[tuple[int, int, int]] = []
    report = rebuild_day(
        rebuilt, DAY, version="t", cutoffs=None, processes=2, progress=lambda *a: seen.append(a)
    )

    assert report.workers == ("w00", "w01") and not report.damage and report.processes == 2
    journal_bytes = sum(p.stat().st_size for p in (rebuilt / "journal").rglob("*.journal"))
    assert seen[-1] == (journal_bytes, journal_bytes, report.records) and report.records > 6000
    assert report.rows == sum(f["rows"] for f in figures)
    assert report.quarantined == 12 and report.rows_outside_day == 0
    assert (other_day / "w00-0001.parquet").read_bytes() == b"untouched"
    assert compare_days(live, rebuilt, DAY) == []
    assert read_quarantine(live, DAY) == read_quarantine(rebuilt, DAY)
    assert not list(rebuilt.glob(".rebuild/*"))
    assert all(trading_day_of(int(q["recv_ns"])) == DAY for q in read_quarantine(rebuilt, DAY))


async def test_a_torn_journal_rebuilds_what_it_holds_and_reports_the_tear(tmp_path: Path) -> None:
    await write_journal(tmp_path, "w00", 3000, 1)
    (segment,) = (tmp_path / "journal" / f"date={DAY}").glob("w00-*")
    segment.write_bytes(segment.read_bytes()[:-100])  # the last block cut short, as by a crash
    report = rebuild_day(tmp_path, DAY, version="t", cutoffs=None)
    assert report.rows > 0
    assert [d.reason for d in report.damage] == ["torn tail"]


async def test_one_process_and_two_rebuild_the_same_files(tmp_path: Path) -> None:
    """Three journals of unequal size on two processes: the largest goes first, to this process, the
    rest to whichever process is free; the files are those of a one-process rebuild, row for row."""
    for worker, n, seed in (("w00", 500, 1), ("w01", 1500, 2), ("w02", 900, 3)):
        await write_journal(tmp_path / "a", worker, n, seed)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    one = rebuild_day(tmp_path / "a", DAY, version="t", cutoffs=None, processes=1)
    two = rebuild_day(tmp_path / "b", DAY, version="t", cutoffs=None, processes=2)
    assert (one.processes, two.processes) == (1, 2)
    assert (one.rows, one.quarantined, one.records) == (two.rows, two.quarantined, two.records)
    assert compare_days(tmp_path / "a", tmp_path / "b", DAY, by_file=True) == []
    assert read_quarantine(tmp_path / "a", DAY) == read_quarantine(tmp_path / "b", DAY)
    assert [j.worker for j in one.jobs] == ["w01", "w02", "w00"]  # largest first
    assert two.jobs[0].worker == "w01" and two.jobs[0].pid == os.getpid()
    assert sorted(j.worker for j in two.jobs) == ["w00", "w01", "w02"]
    assert len({j.pid for j in two.jobs}) == 2  # a spawned process took at least one


def test_a_rebuild_without_a_journal_says_so(tmp_path: Path) -> None:
    with pytest.raises(RebuildError, match="no journal segments"):
        rebuild_day(tmp_path, DAY, version="x", cutoffs=None)


async def test_a_live_store_that_spilled_runs_equals_its_rebuild_file_for_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory pressure in the live store (a tiny byte cap, small decode batches) spills sorted runs
    into open files; the rebuild (no pressure) writes one run per file: the same rows, the same files."""
    import gatherer.run.store as store_mod
    import gatherer.run.store_child as child_mod
    from gatherer.sinks import file_metadata

    class SmallBatches(store_mod.Store):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, decode_batch_rows=400, **kw)  # type: ignore[arg-type]

    live = tmp_path / "live"
    await write_journal(live, "w00", 3000, 1)
    monkeypatch.setattr(store_mod, "STORE_BUFFER_BYTES", 64 * 1024)
    monkeypatch.setattr(child_mod, "Store", SmallBatches)  # the live store process runs run.store_child
    assert live_store(live, "w00")["rows"] > 0
    monkeypatch.undo()
    files = sorted((live / "parquet").rglob("*.parquet"))
    assert any("run_rows" in file_metadata(p) for p in files)  # it did spill, into the open files
    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(live, rebuilt)
    rebuild_day(rebuilt, DAY, version="t", cutoffs=None, processes=1)
    assert not any("run_rows" in file_metadata(p) for p in (rebuilt / "parquet").rglob("*.parquet"))
    assert compare_days(live, rebuilt, DAY) == []  # every run sorted, rows exact
    assert [p.relative_to(live) for p in files] == sorted(
        p.relative_to(rebuilt) for p in (rebuilt / "parquet").rglob("*.parquet")
    )  # spilling made no extra files
