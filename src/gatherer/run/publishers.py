"""The publisher processes: ``gatherer _publish`` (one per worker id, its standard input a pipe from
the supervisor: end of file means "the journal is closed, publish what is left and exit"), and the
supervisor's side of them (``Publishers``: started with the workers, started again when one dies,
finished after the journals are closed). What a publisher does is ``run.publish.publish_journal``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gatherer.config import BusConfig
from gatherer.run.bus_masters import publish_masters
from gatherer.run.publish import publish_journal
from gatherer.sinks.bus import collector_id

log = logging.getLogger(__name__)


async def _exclusive(root: Path, worker_id: str) -> int:
    """Hold ``state/<worker>.publish.lock``: a publisher left draining by a killed run finishes before
    the next run's one starts, so the checkpoint has one writer."""
    import fcntl

    path = root / "state" / f"{worker_id}.publish.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if not said:
                log.warning("%s: waiting for the previous publisher to finish", worker_id)
                said = True
            await asyncio.sleep(0.05)


async def publisher_process(root: Path, worker_id: str, bus_json: str) -> int:
    """``gatherer _publish``: publish until standard input ends (the supervisor is done, or dead)."""
    import msgspec

    from gatherer.sinks.bus import collector_id

    bus = msgspec.json.decode(bus_json, type=BusConfig)
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    # The first line on the pipe is the bus's credentials (JSON; ``{}`` for none): they never sit in
    # this process's environment. The end of the pipe means "the journal is closed".
    credentials: dict[str, str] = json.loads(await reader.readline() or b"{}")

    async def watch() -> None:
        await reader.read()
        closed.set()

    watcher = asyncio.create_task(watch())
    started = time.monotonic()
    lock = await _exclusive(root, worker_id)
    try:
        stats = await publish_journal(
            root, worker_id, bus, collector_id(bus), closed=closed, credentials=credentials
        )
    finally:
        os.close(lock)
    watcher.cancel()
    report = {**stats.__dict__, "seconds": round(time.monotonic() - started, 3)}
    print(json.dumps(report), flush=True)
    return 0


async def start_publisher(
    root: Path, worker_id: str, bus: BusConfig, log_flags: Sequence[str] = ()
) -> asyncio.subprocess.Process:
    """The publisher process of one worker; it ignores stop signals and stops when its stdin closes.

    Its environment holds no secret (no app key, no status token, no bus credential): the bus's
    credentials go over its pipe, as the first line."""
    import msgspec

    from gatherer.run.workers import child_environment
    from gatherer.sinks.bus import BUS_ENV, bus_credentials

    env = {k: v for k, v in child_environment().items() if k not in BUS_ENV}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "_publish", *log_flags, "--root", str(root), "--worker", worker_id,
        "--bus", msgspec.json.encode(bus).decode(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True, env=env,
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(bus_credentials(os.environ)).encode() + b"\n")
    return proc


async def finish_publisher(proc: asyncio.subprocess.Process, *, close: bool = True) -> dict[str, object]:
    """Close the publisher's pipe (with ``close``) and wait for its report (``{"failed": status}`` if it
    ended without one)."""
    assert proc.stdin is not None and proc.stdout is not None
    if close:
        with contextlib.suppress(ConnectionError):
            proc.stdin.close()
    out = await proc.stdout.read()
    code = await proc.wait()
    lines = out.decode().strip().splitlines()
    if code != 0 or not lines:
        return {"failed": code}
    report: dict[str, object] = json.loads(lines[-1])
    return report


class Publishers:
    """The supervisor's publisher processes, one per worker id (none without ``[bus]``); one that dies
    (killed, crashed) is started again after a pause and continues from its checkpoint."""

    def __init__(self, bus: BusConfig | None, root: Path, log_flags: Sequence[str] = ()) -> None:
        self._bus = bus
        self._root = root
        self._flags = list(log_flags)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._closing = asyncio.Event()
        self.reports: dict[str, dict[str, object]] = {}
        self.restarts = 0
        self._masters: asyncio.Task[int] | None = None

    async def ensure(self, worker_ids: Sequence[str]) -> None:
        if self._bus is None:
            return
        if self._masters is None or self._masters.done():  # the day's masters, fetched before the workers
            self._masters = asyncio.create_task(
                publish_masters(self._bus, self._root, collector_id(self._bus), self._closing), name="masters"
            )
        for wid in worker_ids:
            if wid not in self._tasks:
                self._procs[wid] = await start_publisher(self._root, wid, self._bus, self._flags)
                self._tasks[wid] = asyncio.create_task(self._keep(wid), name=f"publish-{wid}")

    async def _keep(self, wid: str) -> None:
        assert self._bus is not None
        while True:
            proc = self._procs[wid]
            report = await finish_publisher(proc, close=False)
            if self._closing.is_set():
                self.reports[wid] = report
                return
            if report.get("failed") == 2:  # a bad [bus] or a stream that does not fit: said on stderr
                log.error("%s: the publisher stopped on a bus configuration problem; not started again"
                          " until the next run (fix [bus] or the stream)", wid)  # fmt: skip
                self.reports[wid] = report
                return
            self.restarts += 1
            log.warning("%s: the publisher ended (%s); starting it again in 1 s", wid, report)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), 1.0)
            self._procs[wid] = await start_publisher(self._root, wid, self._bus, self._flags)
            if self._closing.is_set():
                self._close(self._procs[wid])

    @staticmethod
    def _close(proc: asyncio.subprocess.Process) -> None:
        if proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                proc.stdin.close()

    async def finish(self) -> None:
        """After the workers' journals are closed: each publisher sends what is left and reports."""
        self._closing.set()
        for proc in self._procs.values():
            self._close(proc)
        await asyncio.gather(*self._tasks.values())
        self._tasks.clear()
        if self._masters is not None:
            await self._masters
        for wid, report in sorted(self.reports.items()):
            if not report.get("drained"):
                log.warning("%s: the publisher did not reach the journal's end (%s); the next run continues"
                            " from its checkpoint", wid, report)  # fmt: skip


__all__ = ["Publishers", "finish_publisher", "publisher_process", "start_publisher"]
