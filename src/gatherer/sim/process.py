"""The simulator as a child process (for `gatherer demo` and the benchmarks).

The child runs `gatherer sim --port 0 --exit-with-stdin`: it picks a free loopback port,
prints its URLs, and stops when its standard input (a pipe from us) closes — which also
happens when we die, even by SIGKILL, so it never outlives its parent.
"""

from __future__ import annotations

import asyncio
import sys

from gatherer.errors import GathererError


async def start_sim_process(*flags: str) -> tuple[asyncio.subprocess.Process, str, str]:
    """Start the simulator; returns the process, its rest_url and its ws_url."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "sim", "--port", "0", "--exit-with-stdin", *flags,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    while "ws_url" not in urls:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise GathererError("the simulator exited before it was ready; run `gatherer sim` to see why")
        name, _, value = line.decode().partition("=")
        if name.strip() in ("rest_url", "ws_url"):
            urls[name.strip()] = value.strip()
    return proc, urls["rest_url"], urls["ws_url"]


async def stop_sim_process(proc: asyncio.subprocess.Process, timeout_s: float = 10.0) -> None:
    """Close its standard input and wait; kill it if it does not stop in time."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
