"""One ``gatherer run`` per storage root: ``state/run.lock``, held with flock while the run lasts.

Two runs recording into one root would write the same workers' journal segments, Parquet files and
checkpoints. The lock file holds the running one's pid, start time and command line, so the second
is refused at once with a message naming the first. flock ends with the process, however it ends
(even kill -9), so a stale file never blocks the next run; the file itself is left in place.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path
from types import TracebackType

from gatherer.errors import GathererError


class AlreadyRunning(GathererError):
    """Another ``gatherer run`` holds the storage root."""


def lock_path(root: Path) -> Path:
    return root / "state" / "run.lock"


class RunLock:
    """Held while a run records into ``root``; ``async with`` or ``acquire``/``release``."""

    def __init__(self, root: Path, started: str) -> None:
        self._path = lock_path(root)
        self._started = started
        self._fd: int | None = None

    def acquire(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise AlreadyRunning(
                f"another gatherer run is recording into {self._path.parent.parent}: {holder}; stop it"
                " first (Ctrl-C in its terminal, `kill -TERM <pid>`, or `systemctl stop gatherer`), or give"
                " this run another storage.root"
            ) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "started": self._started, "command": " ".join(sys.argv)}
        os.write(fd, (json.dumps(info) + "\n").encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return "its lock file cannot be read"
    if not isinstance(info, dict) or "pid" not in info:
        return "its lock file names no process"
    return f"pid {info['pid']}, started {info.get('started', '?')} (`{info.get('command', '?')}`)"
