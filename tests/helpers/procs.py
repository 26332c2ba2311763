"""Processes as tests watch them through /proc, and `gatherer run` started as a child process
with its config file and its app key in the environment."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from gatherer.sim.server import Simulator

from ..conftest import Reap


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text()
        found.extend(int(c) for c in text.split())
    return found


def proc_file(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()


def gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # exited, waiting to be reaped


ENV = {
    **os.environ,
    "GATHERER_LS_APPKEY": "proc-appkey",
    "GATHERER_LS_APPSECRET": "proc-appsecret",
    "COLUMNS": "250",
}


def write_config(sim: Simulator, root: Path) -> Path:
    path = root / "gatherer.toml"
    path.write_text(
        f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
registrations_per_s = 80
rest_rate_scale = 20

[storage]
root = "{root}"

[markets.kospi]
max_symbols = 40

[markets.ofutures]
max_symbols = 10
""",
        encoding="utf-8",
    )
    return path


async def start_run(
    reap: Reap, sim: Simulator, config: Path, *extra: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """`gatherer run` on the simulator's clock (``--clock``), as every component of a test is;
    ``env`` in place of ``ENV``."""
    assert sim.clock_spec is not None
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "run", "--config", str(config), "--clock", sim.clock_spec, *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env or ENV,
    )  # fmt: skip
    reap(proc.pid)
    return proc


async def wait_recording(proc: asyncio.subprocess.Process) -> None:
    assert proc.stderr is not None
    while True:
        line = await asyncio.wait_for(proc.stderr.readline(), 60)
        assert line, "the collector exited before recording"
        if line.startswith(b"recording"):
            return
