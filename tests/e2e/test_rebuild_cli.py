"""`gatherer rebuild` as users run it, the installed command in a process group of its own, with two
processes over three worker journals of unequal size: the same files, row for row, as a one-process
rebuild of the same journal, the same quarantine, and its rate printed at the end."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from gatherer.run.pipeline import rebuild_day

from ..conftest import Reap
from ..helpers.lake import compare_days, read_quarantine
from ..unit.test_pipeline import DAY, write_journal
from .test_stops import Started


async def test_rebuild_on_two_processes_writes_the_files_of_one(tmp_path: Path, reap: Reap) -> None:
    for worker, n, seed in (("w00", 400, 1), ("w01", 1200, 2), ("w02", 700, 3)):
        await write_journal(tmp_path / "one", worker, n, seed)
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    one = rebuild_day(tmp_path / "one", DAY, version="t", cutoffs=None, processes=1)

    (tmp_path / "cwd").mkdir()
    args = ["rebuild", "--root", str(tmp_path / "two"), "--date", DAY.isoformat(), "--processes", "2"]
    rebuilt = Started(args, tmp_path / "cwd", reap)
    assert await rebuilt.exit_status() == 0, rebuilt.err

    rate = re.search(
        r"read ([\d,]+) journal records in [\d.]+ s: ([\d,]+) records/s with 2 process", rebuilt.out
    )
    assert rate is not None, rebuilt.out
    assert int(rate.group(1).replace(",", "")) == one.records and int(rate.group(2).replace(",", "")) > 0
    assert f"{one.rows:,} rows in {one.files} file(s) from worker(s) w00, w01, w02" in rebuilt.out
    assert compare_days(tmp_path / "one", tmp_path / "two", DAY, by_file=True) == []
    assert read_quarantine(tmp_path / "one", DAY) == read_quarantine(tmp_path / "two", DAY)
    assert not list((tmp_path / "two").glob(".rebuild/*"))
