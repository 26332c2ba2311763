"""Every way users stop `gatherer run` and `gatherer demo` keeps every row.

The installed `gatherer` command is started as a user starts it: a process group of its own (a
terminal's foreground job, or a systemd unit), on the simulator's clock (`--clock`, the line `gatherer
sim` prints), and stopped with the signals users send: Ctrl-C is SIGINT to the whole group; systemd's
stop is SIGTERM to every process at once; `kill` is SIGTERM to the supervisor alone; a closing
terminal is SIGHUP to the group. After the exit, every data frame in the journal is a Parquet row or
a quarantine line exactly once, and the exit status is 0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gatherer.capture import Kind, iter_records
from gatherer.clock import ScaledClock
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits

from ..conftest import Reap, _descendants, sim_settings
from ..helpers.lake import read_quarantine
from ..helpers.procs import proc_file

GATHERER = str(Path(sys.executable).parent / "gatherer")
KEY_ENV = {"GATHERER_LS_APPKEY": "stop-key", "GATHERER_LS_APPSECRET": "stop-secret-value"}


def config_text(sim: Simulator, root: Path) -> str:
    return f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
registrations_per_s = 200
rest_rate_scale = 20

[storage]
root = "{root}"

[run]
workers = 2

[markets.kospi]
max_symbols = 6

[markets.kfutures]
max_symbols = 2

[markets.ofutures]
max_symbols = 4
"""


class Started:
    """A `gatherer` command running in a process group of its own, its output in files."""

    def __init__(self, args: list[str], cwd: Path, reap: Reap) -> None:
        self.out_path, self.err_path = cwd / "stdout.txt", cwd / "stderr.txt"
        env = {**os.environ, **KEY_ENV, "COLUMNS": "250"}
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [GATHERER, *args], stdout=out, stderr=err, env=env, cwd=cwd, process_group=0
            )
        reap(self.proc.pid)

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    def everyone(self) -> list[int]:
        return [self.proc.pid, *_descendants(self.proc.pid)]

    async def exit_status(self, timeout_s: float = 120.0) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (code := self.proc.poll()) is None:
            if loop.time() > deadline:
                raise TimeoutError(f"still running after {timeout_s} s; stderr:\n{self.err}")
            await asyncio.sleep(0.05)
        return code


async def until(cond: Callable[[], bool], what: str, timeout_s: float = 90.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise TimeoutError(f"not reached in {timeout_s} s: {what}")
        await asyncio.sleep(0.02)


def journal_in_parquet_once(root: Path) -> int:
    """Every data frame of the journal is one Parquet row or one quarantine line; returns how many."""
    journaled: Counter[tuple[str, int]] = Counter()
    for rec in iter_records(root / "journal"):
        if rec.kind == Kind.FRAME and b'"rsp_cd"' not in rec.payload:
            journaled[(rec.conn_id.split("-")[0], rec.seq)] += 1
    stored: Counter[tuple[str, int]] = Counter()
    for path in (root / "parquet").rglob("*.parquet"):
        table = pq.read_table(path, columns=["conn_id", "seq"])
        for conn_id, seq in zip(table["conn_id"].to_pylist(), table["seq"].to_pylist(), strict=True):
            stored[(conn_id.split("-")[0], seq)] += 1
    for day_dir in (root / "quarantine").glob("date=*"):
        day = day_dir.name.removeprefix("date=")
        for line in read_quarantine(root, dt.date.fromisoformat(day)):
            stored[(str(line["conn_id"]).split("-")[0], int(str(line["seq"])))] += 1
    assert journaled, "nothing was journaled"
    twice = [k for k, n in stored.items() if n > 1]
    assert not twice, f"{len(twice)} frame(s) stored twice, e.g. {twice[:3]}"
    missing = journaled.keys() - stored.keys()
    assert not missing, f"{len(missing)} of {len(journaled)} journaled frames not in Parquet or quarantine"
    assert stored.keys() <= journaled.keys()
    return len(journaled)


def send(how: str, started: Started) -> None:
    pid = started.proc.pid
    if how == "ctrl-c":  # the terminal: SIGINT to the foreground process group
        os.killpg(pid, signal.SIGINT)
    elif how == "systemd":  # KillMode=control-group: SIGTERM to every process of the unit at once
        for victim in started.everyone():
            os.kill(victim, signal.SIGTERM)
    elif how == "kill":
        os.kill(pid, signal.SIGTERM)
    elif how == "interrupt-supervisor":
        os.kill(pid, signal.SIGINT)
    elif how == "hangup":  # the terminal closed
        os.killpg(pid, signal.SIGHUP)
    else:
        raise ValueError(how)


@pytest.fixture
async def venue() -> AsyncIterator[Simulator]:
    async with Simulator(sim_settings(limits=VenueLimits(rest_rate_scale=20))) as sim:
        yield sim


@pytest.mark.parametrize(
    ("how", "when"),
    [
        ("ctrl-c", "mid-burst"),
        ("ctrl-c", "first-frames"),
        ("systemd", "mid-burst"),
        ("systemd", "first-frames"),
        ("kill", "mid-burst"),
        ("interrupt-supervisor", "mid-burst"),
        ("hangup", "mid-burst"),
    ],
)
async def test_each_stop_writes_every_journaled_frame_to_parquet_once(
    venue: Simulator, tmp_path: Path, reap: Reap, how: str, when: str
) -> None:
    sim = venue
    assert isinstance(sim.clock, ScaledClock)
    root = tmp_path / "data"
    (tmp_path / "gatherer.toml").write_text(config_text(sim, root))
    run = Started(["run", "--config", "gatherer.toml", "--clock", sim.clock.spec], tmp_path, reap)
    # The first frames (before any checkpoint: parquet_flush_s is 300 s), or well into the stream.
    wanted = 1 if when == "first-frames" else 4_000
    await until(lambda: sim.hub.frames_sent_total >= wanted or run.proc.poll() is not None, "frames sent")
    assert run.proc.poll() is None, run.err
    send(how, run)
    assert await run.exit_status() == 0, run.err
    assert "gatherer run" in run.out, run.out  # the summary
    assert "FAILED" not in run.out and "Traceback" not in run.err, run.err
    n = journal_in_parquet_once(root)
    assert when == "first-frames" or n >= 1_000


async def test_a_second_ctrl_c_hurries_the_stop_and_still_keeps_every_row(
    venue: Simulator, tmp_path: Path, reap: Reap
) -> None:
    sim = venue
    assert isinstance(sim.clock, ScaledClock)
    root = tmp_path / "data"
    (tmp_path / "gatherer.toml").write_text(config_text(sim, root))
    run = Started(["run", "--config", "gatherer.toml", "--clock", sim.clock.spec], tmp_path, reap)
    await until(lambda: sim.hub.frames_sent_total >= 2_000, "frames sent")
    send("ctrl-c", run)
    await until(lambda: "SIGINT: stopping" in run.err, "the first stop said")
    send("ctrl-c", run)
    assert await run.exit_status() == 0, run.err
    assert "SIGINT again" in run.err and "skipped: the final backfill and the ledger" in run.err
    journal_in_parquet_once(root)


async def test_a_second_run_on_the_same_root_is_refused_at_once_naming_the_first(
    venue: Simulator, tmp_path: Path, reap: Reap
) -> None:
    sim = venue
    assert isinstance(sim.clock, ScaledClock)
    root = tmp_path / "data"
    (tmp_path / "gatherer.toml").write_text(config_text(sim, root))
    first = Started(["run", "--config", "gatherer.toml", "--clock", sim.clock.spec], tmp_path, reap)
    await until(lambda: "recording" in first.err, "the first run recording")
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    (second_dir / "gatherer.toml").write_text(config_text(sim, root))
    second = Started(["run", "--config", "gatherer.toml", "--clock", sim.clock.spec], second_dir, reap)
    assert await second.exit_status(30) == 2
    assert f"pid {first.proc.pid}" in second.err and "another gatherer run" in second.err, second.err
    assert first.proc.poll() is None  # the first one goes on
    send("ctrl-c", first)
    assert await first.exit_status() == 0, first.err
    journal_in_parquet_once(root)


async def test_workers_and_stores_hold_no_app_secret_and_log_where_they_are_told(
    venue: Simulator, tmp_path: Path, reap: Reap
) -> None:
    sim = venue
    assert isinstance(sim.clock, ScaledClock)
    root = tmp_path / "data"
    (tmp_path / "gatherer.toml").write_text(config_text(sim, root))
    args = ["run", "--config", "gatherer.toml", "--clock", sim.clock.spec, "-v", "--log-file", "run.log"]
    run = Started(args, tmp_path, reap)
    await until(lambda: sim.hub.frames_sent_total > 0, "frames sent")
    await until(lambda: len(run.everyone()) >= 3, "a worker and its store")  # one connection: one worker
    for pid in run.everyone()[1:]:
        environ = proc_file(pid, "environ")
        assert b"GATHERER_LS_APP" not in environ and KEY_ENV["GATHERER_LS_APPSECRET"].encode() not in environ
    send("ctrl-c", run)
    assert await run.exit_status() == 0, run.err
    log = (tmp_path / "run.log").read_text()
    assert KEY_ENV["GATHERER_LS_APPSECRET"] not in run.err + run.out + log
    # -v after the command reached the worker; its lines name it and their connection.
    assert " INFO supervisor gatherer.progress: recording" in log
    assert " INFO w00 gatherer.venues.ls.ws: connected [conn_id=w00-c000" in log, log


async def test_demo_stopped_with_ctrl_c_halfway_prints_its_summary_and_keeps_every_row(
    tmp_path: Path, reap: Reap
) -> None:
    demo = Started(["demo", "--duration", "120", "--root", "demo-data", "--symbols", "4"], tmp_path, reap)
    root = tmp_path / "demo-data"

    def journal_bytes() -> int:
        return sum(p.stat().st_size for p in (root / "journal").rglob("*.journal"))

    await until(lambda: (root / "journal").is_dir() and journal_bytes() > 300_000, "the demo recording")
    send("ctrl-c", demo)
    assert await demo.exit_status() == 0, demo.err
    assert "gatherer demo" in demo.out and "Parquet:" in demo.out, demo.out
    assert journal_in_parquet_once(root) > 1_000
