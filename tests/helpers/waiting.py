"""Waiting for a condition that running tasks will make true: polled every 10 ms, with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_until(cond: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait for a condition that the running tasks will make true (checked every 10 ms, bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached in time")
        await asyncio.sleep(0.01)
