"""`gatherer demo` as a user runs it: the simulator in a child process, a summary, a journal.
And the child never outlives the demo, even when the demo is killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from gatherer.capture import verify

from ..conftest import Reap
from ..helpers.procs import children, gone, proc_file
from ..helpers.waiting import wait_until

ENV = {**os.environ, "COLUMNS": "250"}


async def demo(reap: Reap, root: Path, duration: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "demo",
        "--duration", duration, "--root", str(root), "--symbols", "4",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    reap(proc.pid)
    return proc


async def test_demo_prints_a_summary_and_leaves_a_journal(tmp_path: Path, reap: Reap) -> None:
    proc = await demo(reap, tmp_path, "2")
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    for market in ("kospi", "kosdaq", "kfutures", "koptions", "ofutures", "ooptions"):
        assert f" {market} " in text, f"{market} missing from the summary:\n{text}"
    assert "refused" in text and "journal:" in text
    # What the run says it registered is what the plan sent (the market-status feed included):
    # no more registrations acknowledged than registered, and the same count in the log and summary.
    said = re.search(r"([\d,]+) registrations on (\d+) connection", err.decode())
    summed = re.search(
        r"([\d,]+)\s+registrations\s+on\s+(\d+)\s+connection\(s\):\s+([\d,]+)\s+acknowledged", text
    )
    assert said and summed, (err.decode(), text)
    registered, acknowledged = int(summed[1].replace(",", "")), int(summed[3].replace(",", ""))
    assert said[1] == summed[1] and 0 < acknowledged <= registered, (said[0], summed[0])
    report = verify(tmp_path / "journal")
    assert report.ok and report.records > 100


async def test_the_simulator_child_stops_when_the_demo_is_killed(tmp_path: Path, reap: Reap) -> None:
    proc = await demo(reap, tmp_path, "120")
    assert proc.stderr is not None
    while not (await asyncio.wait_for(proc.stderr.readline(), 120)).startswith(b"recording"):
        pass
    (child,) = [pid for pid in children(proc.pid) if b"\0sim\0" in proc_file(pid, "cmdline")]
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    await wait_until(lambda: gone(child), timeout_s=15)
