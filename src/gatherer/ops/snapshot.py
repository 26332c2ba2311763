"""Status files: what each worker and each decode-and-store process says about itself, twice a second.

Workers and stores are child processes of the supervisor; their counters live in their own memory.
Each writes a small JSON file under the storage root's ``state/`` directory (``run.status_files``),
``<worker>.status.json`` and ``<worker>.store.status.json``, by writing a temporary name and
renaming it, so a reader never sees half a file. The supervisor's status page (``ops.status_page``)
and `gatherer status` read them. They are not synced (a crash loses at most the last half second
of figures, never data) and nothing in capture ever reads them back: they only observe.

Format (version 1), one JSON object per file: ``WorkerStatus`` or ``StoreStatus`` below, with
``v`` = 1. ``updated_s`` is the wall-clock time of writing (staleness is judged on it); the
``*_ns`` times are on the run's clock (the simulator's in tests), like the journal's ``recv_ns``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import msgspec

STATUS_VERSION = 1


class ConnectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    conn_id: str
    key_index: int
    state: str
    """connecting, registering, streaming, reconnecting or stopped."""
    registrations: int
    accepted: int
    refused: int
    unanswered: int
    frames: int
    connects: int
    reconnects: int
    stalls: int
    last_error: str = ""
    last_recv_ns: int = 0


class JournalStatus(msgspec.Struct, frozen=True, kw_only=True):
    next_seq: int
    durable_seq: int
    durable_lag_s: float
    """How long the oldest record of the last commit waited from receipt to fsync."""
    pending_bytes: int
    disk_error: str | None = None
    disk_incidents: int = 0


class WorkerStatus(msgspec.Struct, frozen=True, kw_only=True):
    v: int = STATUS_VERSION
    worker_id: str
    pid: int
    updated_s: float
    clock_ns: int
    journal: JournalStatus
    connections: list[ConnectionStatus]
    frames: list[tuple[str, str, int]]
    """(market, channel, data frames received in this process) for every pair with frames."""
    errors: list[tuple[float, str]] = msgspec.field(default_factory=list)
    """(wall-clock time, message) of the process's latest warnings and errors."""


class StoreStatus(msgspec.Struct, frozen=True, kw_only=True):
    v: int = STATUS_VERSION
    worker_id: str
    pid: int
    updated_s: float
    last_seq: int
    """The last journal seq read (decoded, or waiting in a batch)."""
    last_recv_ns: int
    """Receive time of that record."""
    records: int
    rows: int
    quarantined: int
    quarantine_reasons: dict[str, int]
    gaps: int
    files: int


def worker_status_path(root: Path, worker_id: str) -> Path:
    return root / "state" / f"{worker_id}.status.json"


def store_status_path(root: Path, worker_id: str) -> Path:
    return root / "state" / f"{worker_id}.store.status.json"


_S = TypeVar("_S", "WorkerStatus", "StoreStatus")
_encoder = msgspec.json.Encoder()
_worker_decoder = msgspec.json.Decoder(WorkerStatus)
_store_decoder = msgspec.json.Decoder(StoreStatus)


def write_status(path: Path, status: WorkerStatus | StoreStatus) -> None:
    """Replace ``path`` with ``status`` in one rename (not synced: figures, not data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(_encoder.encode(status))
    os.replace(tmp, path)


def _read(path: Path, decoder: msgspec.json.Decoder[_S]) -> _S | None:
    try:
        return decoder.decode(path.read_bytes())
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None  # not written yet, or by another version: the page shows the worker as silent


def read_statuses(root: Path) -> tuple[dict[str, WorkerStatus], dict[str, StoreStatus]]:
    """Every worker's and store's latest status file under ``root/state``, by worker id."""
    workers: dict[str, WorkerStatus] = {}
    stores: dict[str, StoreStatus] = {}
    state = root / "state"
    if not state.is_dir():
        return workers, stores
    for path in sorted(state.glob("*.status.json")):
        if path.name.endswith(".store.status.json"):
            s = _read(path, _store_decoder)
            if s is not None:
                stores[s.worker_id] = s
        else:
            w = _read(path, _worker_decoder)
            if w is not None:
                workers[w.worker_id] = w
    return workers, stores


__all__ = [
    "ConnectionStatus",
    "JournalStatus",
    "StoreStatus",
    "WorkerStatus",
    "read_statuses",
    "store_status_path",
    "worker_status_path",
    "write_status",
]
