"""How a worker and its store tell the supervisor what they are doing: status files (``ops.snapshot``).

Both are child processes; their counters live in their memory. Twice a second (real time) each
writes its figures to ``state/<worker>.status.json`` / ``state/<worker>.store.status.json`` (one
rename, never synced), off the receive path: the worker from a task of its own that only reads
counters the receive path already keeps, the store between two polls of its journal. Files rather
than the pipes because the store is the worker's child, not the supervisor's, and because
`gatherer status` can read them without the supervisor's help. Nothing here ever feeds back into
capture.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections.abc import Generator, Iterator
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING

from gatherer.ops.snapshot import (
    ConnectionStatus,
    JournalStatus,
    StoreStatus,
    WorkerStatus,
    store_status_path,
    worker_status_path,
    write_status,
)
from gatherer.run.store import JournalTail, Store
from gatherer.venues.ls.catalog import LEGACY
from gatherer.venues.ls.envelope import stream_key

if TYPE_CHECKING:  # only a type here: the store process, which imports this module, has no worker
    from gatherer.run.worker import Worker

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 0.5
"""How often (real seconds) workers and stores rewrite their status files."""


class RecentErrors(logging.Handler):
    """Keeps the process's latest warnings and errors (at most ``keep``) for the status page."""

    def __init__(self, keep: int = 20) -> None:
        super().__init__(logging.WARNING)
        self.items: collections.deque[tuple[float, str]] = collections.deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{record.levelname} {record.name}: {record.getMessage()}"
        except (TypeError, ValueError):  # a malformed log call must not break logging
            text = f"{record.levelname} {record.name}: {record.msg!r}"
        self.items.append((record.created, text[:500]))


def _stream_channels(worker: Worker) -> dict[tuple[str, str], list[bytes]]:
    """(market, channel) -> the stream keys of its registrations, legacy codes included."""
    out: dict[tuple[str, str], set[bytes]] = {}
    for group in worker.registrations:
        for r in group:
            keys = out.setdefault((r.market, r.channel), set())
            keys.add(stream_key(r.tr_cd, r.tr_key))
            legacy = LEGACY.get(r.tr_cd)
            if legacy is not None:
                keys.add(stream_key(legacy, r.tr_key))
    return {pair: sorted(keys) for pair, keys in out.items()}


Pair = tuple[str, str]


def _frames(counts: dict[bytes, int], channels: dict[Pair, list[bytes]]) -> dict[Pair, int]:
    """Data frames per (market, channel): sums done in C (``map``/``sum``), as this runs on the
    worker's event loop (bench/status.py); streams no registration names count as unknown."""
    out = {pair: sum(map(counts.get, keys, repeat(0))) for pair, keys in channels.items()}
    unknown = sum(counts.values()) - sum(out.values())
    if unknown > 0:
        out[("unknown", "unknown")] = unknown
    return {pair: n for pair, n in out.items() if n}


def worker_status(
    worker: Worker,
    worker_id: str,
    channels: dict[tuple[str, str], list[bytes]],
    errors: RecentErrors | None,
) -> WorkerStatus:
    """The worker's figures now (counters the receive path keeps; nothing is recounted)."""
    journal = worker.journal
    frames = _frames(worker.stream_frames, channels)
    return WorkerStatus(
        worker_id=worker_id,
        pid=os.getpid(),
        updated_s=time.time(),
        clock_ns=worker.clock.time_ns(),
        journal=JournalStatus(
            next_seq=journal.next_seq,
            durable_seq=journal.durable_seq,
            durable_lag_s=journal.durable_lag_ns / 1e9,
            pending_bytes=journal.pending_bytes,
            disk_error=journal.disk_error,
            disk_incidents=journal.disk_incidents,
        ),
        connections=[
            ConnectionStatus(**{f: getattr(s, f) for f in ConnectionStatus.__struct_fields__})
            for s in worker.stats
        ],
        frames=[(m, c, n) for (m, c), n in sorted(frames.items())],
        errors=list(errors.items) if errors is not None else [],
    )


async def publish_worker(root: Path, worker: Worker, worker_id: str, errors: RecentErrors | None) -> None:
    """Rewrite the worker's status file every ``STATUS_INTERVAL_S`` until cancelled (then once more)."""
    channels = _stream_channels(worker)
    path = worker_status_path(root, worker_id)
    try:
        while True:
            _write_quietly(path, worker_status(worker, worker_id, channels, errors))
            await asyncio.sleep(STATUS_INTERVAL_S)
    finally:
        _write_quietly(path, worker_status(worker, worker_id, channels, errors))


def _write_quietly(path: Path, status: WorkerStatus | StoreStatus) -> None:
    try:
        write_status(path, status)
    except OSError as exc:  # a full disk must not stop capture for the sake of a figure
        log.debug("status file %s not written: %s", path, exc)


def store_status(store: Store, tail: JournalTail) -> StoreStatus:
    s = store.stats
    return StoreStatus(
        worker_id=store.worker_id,
        pid=os.getpid(),
        updated_s=time.time(),
        last_seq=store.last_seq,
        last_recv_ns=store.last_recv_ns,
        records=s.records,
        rows=s.rows,
        quarantined=s.quarantined,
        quarantine_reasons=dict(s.quarantine_reasons),
        gaps=s.gaps,
        files=len(store.written),
    )


def publishing(
    polls: Iterator[bool], root: Path, store: Store, tail: JournalTail
) -> Generator[bool, None, None]:
    """``polls`` (a store's ``stop_requested``), writing the store's status file between polls at
    most every ``STATUS_INTERVAL_S``, and once at the end."""
    path = store_status_path(root, store.worker_id)
    next_at = 0.0
    try:
        for stop in polls:
            now = time.monotonic()
            if now >= next_at:
                _write_quietly(path, store_status(store, tail))
                next_at = now + STATUS_INTERVAL_S
            yield stop
    finally:
        _write_quietly(path, store_status(store, tail))


__all__ = [
    "STATUS_INTERVAL_S",
    "RecentErrors",
    "publish_worker",
    "publishing",
    "store_status",
    "worker_status",
]
