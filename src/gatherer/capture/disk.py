"""A disk that is full or fails, as the journal lives through it: one incident, one alarm, retries.

A disk that is full or fails (ENOSPC, EFBIG, EDQUOT, EIO, ...) is an incident, not the end: the
failed write is undone (``writer.py``), ``disk_error`` says what failed and what to do, one error is
logged, and the records stay in memory (bounded by the journal's back-pressure) while the write is
retried every ``retry_base_s`` doubling to ``retry_cap_s``. When a write works again everything
kept is written in order, seq continuous, and the incident is journaled as a ``disk_full`` (or
``disk_error``) EVENT at its start and a ``disk_ok`` EVENT at its end. Only ``close`` gives up,
after ``close_retry_s`` of failures: it raises JournalFailed naming the records that were lost.

``DiskIncident`` keeps the state and the words of an incident and hands the EVENTs back to the
journal, which appends them; it never writes a file and never appends a record itself.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

from gatherer.capture import events
from gatherer.capture.settings import JournalSettings
from gatherer.clock import Clock
from gatherer.errors import GathererError

log = logging.getLogger(__name__)

_SPACE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class JournalFailed(GathererError):
    """The journal gave up writing (the disk failed until ``close_retry_s`` ran out); records were lost."""


class DiskIncident:
    """The current disk incident of one worker's journal (``error`` None: writing works), and how
    many there were since the journal was opened."""

    def __init__(self, root: Path, worker_id: str, settings: JournalSettings, clock: Clock) -> None:
        self._root = root
        self._worker_id = worker_id
        self._settings = settings
        self._clock = clock
        self.error: str | None = None
        """The alarm: what failed and what to do; None when writing works."""
        self.incidents = 0
        self.retries = 0
        """Failed tries in the current incident."""
        self.last_exc: OSError | None = None
        self._since_ns = 0

    def retry_delay_s(self) -> float:
        """How long to wait before trying the failing disk again: doubling per failure, capped."""
        s = self._settings
        return min(s.retry_cap_s, s.retry_base_s * 2.0 ** min(self.retries - 1, 30))

    def failed(
        self, exc: OSError, path: Path | None, pending_bytes: int
    ) -> events.DiskFull | events.DiskError | None:
        """Count a failed write. At the start of an incident the alarm is set and logged once, and
        the ``disk_full`` or ``disk_error`` EVENT to journal is returned; None while it goes on."""
        self.retries += 1
        self.last_exc = exc
        if self.error is not None:
            return None  # the same incident: already said, once
        self.incidents += 1
        self._since_ns = self._clock.time_ns()
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        where = str(path) if path is not None else str(self._root / "journal")
        if exc.errno == errno.EFBIG:
            todo = "raise the file-size limit (ulimit -f) of the collector, or free space if the disk is full"
        elif exc.errno in _SPACE_ERRORS:
            todo = f"free space (or quota) on the file system of {self._root}"
        else:
            todo = f"check the disk and the permissions of {self._root}"
        self.error = (
            f"journal of worker {self._worker_id} cannot write {where}: {exc.strerror or exc} ({code}); "
            f"{todo}. Records are kept in memory (connections pause reading above "
            f"{self._settings.max_pending_bytes / 2**20:.0f} MiB) and capture resumes by itself when writing "
            f"works again"
        )
        log.error("%s.", self.error[0].upper() + self.error[1:])
        kind = events.DiskFull if exc.errno in _SPACE_ERRORS else events.DiskError
        return kind(path=where, errno=code, error=exc.strerror or str(exc), pending_bytes=pending_bytes)

    def recovered(self, path: Path | None) -> events.DiskOk:
        """A write worked again: log it, end the incident, return the ``disk_ok`` EVENT to journal."""
        down_s = (self._clock.time_ns() - self._since_ns) / 1e9
        log.warning(
            "Journal of worker %s writes again to %s after %.1f s and %d failed tries; capture continues.",
            self._worker_id,
            path,
            down_s,
            self.retries,
        )
        event = events.DiskOk(path=str(path), down_s=round(down_s, 3), retries=self.retries)
        self.error = None
        self.retries = 0
        return event

    def give_up(self, first: int, last: int) -> JournalFailed:
        """The error ``close`` raises when the disk failed until ``close_retry_s`` ran out: records
        ``first..last`` are lost. Logs it once; the caller raises it from ``last_exc``."""
        exc = self.last_exc
        log.error(
            "Journal of worker %s gives up after %.0f s of failed writes while closing (%s): records %d..%d "
            "(%d) are lost.",
            self._worker_id,
            self._settings.close_retry_s,
            exc,
            first,
            last,
            last - first + 1,
        )
        return JournalFailed(
            f"journal of worker {self._worker_id} could not write records {first}..{last}: {exc}"
        )
