"""The simulator as a child process (for `gatherer demo` and the benchmarks).

The child runs `gatherer sim --port 0 --exit-with-stdin`: it picks a free loopback port,
prints its URLs, and stops when its standard input (a pipe from us) closes — which also
happens when we die, even by SIGKILL, so it never outlives its parent.
"""

from __future__ import annotations

import asyncio
import sys
from typing import NamedTuple

from gatherer.errors import GathererError


class SimProcess(NamedTuple):
    proc: asyncio.subprocess.Process
    rest_url: str
    ws_url: str
    clock: str
    """The simulator's clock (``ScaledClock.spec``): what ``gatherer run --clock`` takes to share it."""


async def start_sim_process(*flags: str) -> SimProcess:
    """Start the simulator; returns the process, its URLs and its clock once it is ready.

    It runs in a session of its own and ignores the stop signals (``--exit-with-stdin``): a Ctrl-C
    meant for the collector does not take the venue away while the collector is still stopping.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "sim", "--port", "0", "--exit-with-stdin", *flags,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    said: dict[str, str] = {}
    while not {"rest_url", "ws_url", "clock"} <= said.keys():
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise GathererError("the simulator exited before it was ready; run `gatherer sim` to see why")
        name, _, value = line.decode().partition("=")
        said[name.strip()] = value.strip()
    return SimProcess(proc, said["rest_url"], said["ws_url"], said["clock"])


async def stop_sim_process(proc: asyncio.subprocess.Process, timeout_s: float = 10.0) -> None:
    """Close its standard input and wait; kill it if it does not stop in time."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
