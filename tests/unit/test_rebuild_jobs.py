"""The parallel part of a rebuild (``run.rebuild_jobs``): a job that fails in a rebuild process is
raised here, naming what failed, after the running jobs have ended; progress adds up every process."""

from __future__ import annotations

import concurrent.futures
import os
import random
import shutil
from multiprocessing import forkserver
from pathlib import Path

import pytest

from gatherer.capture import Journal, Kind
from gatherer.clock import ManualClock
from gatherer.run.rebuild_jobs import helpers, largest_first, rebuild_workers, start_helpers

from ..helpers.lake import read_quarantine
from .test_pipeline import BROKEN, DAY, START

START_NS = int(START.timestamp() * 1e9)


def test_largest_first_orders_by_journal_bytes_then_name(tmp_path: Path) -> None:
    sizes = {"w00": 10, "w01": 30, "w02": 30, "w03": 20}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
    assert largest_first({w: [tmp_path / w] for w in sizes}) == ["w01", "w02", "w03", "w00"]


async def test_a_job_that_fails_in_a_rebuild_process_is_raised_here(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path, "w00", clock=ManualClock(START_NS))
    rng = random.Random(0)
    for i in range(50):  # not JSON, and not compressible: more bytes than a directory's size
        journal.append(Kind.FRAME, "w00-c000", BROKEN + rng.randbytes(500), START_NS + i)
    await journal.close()
    (good,) = (tmp_path / "journal" / f"date={DAY}").glob("w00-*")
    bad = tmp_path / "w01-000001.journal"
    bad.mkdir()  # unreadable as a segment; smaller than w00's, so the rebuild process takes it
    jobs = {"w00": [good], "w01": [bad]}
    assert largest_first(jobs) == ["w00", "w01"]  # w00 is this process's, w01 a rebuild process's
    staging = tmp_path / "staging"
    seen: list[tuple[int, int]] = []
    with pytest.raises(IsADirectoryError, match=r"w01-000001\.journal"):
        rebuild_workers(
            staging, jobs, DAY, processes=2, say=lambda b, r: seen.append((b, r)),
            version="t", venue="t", cutoffs=None,
        )  # fmt: skip
    assert seen and seen[-1][0] >= good.stat().st_size  # this process's job ran to its end
    assert len(read_quarantine(staging, DAY)) == 50  # and wrote what it read
    shutil.rmtree(staging)


def test_rebuild_processes_start_without_the_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATHERER_LS_APPSECRET", "not-for-children")
    monkeypatch.setenv("GATHERER_BUS_PASSWORD", "nor-this")
    forkserver._forkserver._stop()  # one an earlier test started would not show this environment
    start_helpers()
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=helpers()) as pool:
        held = [  # whether each is set there (never the value: a failure must not print it)
            pool.submit(os.getenv, name).result() is not None
            for name in ("GATHERER_LS_APPSECRET", "GATHERER_BUS_PASSWORD")
        ]
        assert pool.submit(os.getenv, "PATH").result() == os.environ["PATH"]  # the rest is there
    assert held == [False, False]
    assert "GATHERER_LS_APPSECRET" in os.environ  # this process keeps its own
