"""What a WebSocket session receives, collected and parsed so tests can wait on it."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

WAIT_S = 20.0


class Recorder:
    """Collects every frame a session receives, parsed, and wakes waiters on conditions."""

    def __init__(self) -> None:
        self.raw: list[tuple[bytes, int]] = []
        self.data: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.unparsable: list[bytes] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Event]] = []

    def __call__(self, payload: bytes, recv_ns: int) -> None:
        self.raw.append((payload, recv_ns))
        try:
            frame = json.loads(payload)
            header = frame["header"]
            if "rsp_cd" not in header:
                self.data[(header["tr_cd"], header["tr_key"])].append(frame["body"])
        except (ValueError, KeyError, TypeError):
            self.unparsable.append(payload)
        for cond, event in self._waiters:
            if not event.is_set() and cond():
                event.set()

    async def until(self, cond: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        if cond():
            return
        event = asyncio.Event()
        self._waiters.append((cond, event))
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        finally:
            self._waiters.remove((cond, event))
