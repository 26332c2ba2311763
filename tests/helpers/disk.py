"""A fake disk for the journal's writer: the real system calls, failing on demand."""

from __future__ import annotations

import errno
import os

from gatherer.capture.writer import FileOps


class FillingDisk:
    """The system calls of a disk that fills up, for ``FileOps``: the real calls, failing on demand.

    ``room``: bytes that still fit (None: no limit); a write that does not fit writes what fits
    (a short write, as a real disk does) and the next one raises ENOSPC. ``bad_syncs`` and
    ``bad_truncates``: how many of the next fdatasync / ftruncate calls fail with EIO.
    """

    def __init__(self) -> None:
        self.room: int | None = None
        self.bad_syncs = 0
        self.bad_truncates = 0
        self.failures = 0

    def write(self, fd: int, data: memoryview) -> int:
        if self.room is not None:
            if self.room <= 0:
                self.failures += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            data = data[: self.room]
        n = os.write(fd, data)
        if self.room is not None:
            self.room -= n
        return n

    def datasync(self, fd: int) -> None:
        if self.bad_syncs:
            self.bad_syncs -= 1
            self.failures += 1
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.fdatasync(fd)

    def truncate(self, fd: int, size: int) -> None:
        if self.bad_truncates:
            self.bad_truncates -= 1
            self.failures += 1
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.ftruncate(fd, size)

    def ops(self) -> FileOps:
        return FileOps(write=self.write, datasync=self.datasync, truncate=self.truncate)
