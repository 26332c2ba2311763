"""How a journal batches, bounds, rolls and retries: one frozen record of settings.

Shared by the journal (``journal.py``), the file side that writes its segments (``writer.py``) and
the handling of a failing disk (``disk.py``). Values only: nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gatherer.clock import DEFAULT_CUTOFF


@dataclass(frozen=True, slots=True)
class JournalSettings:
    """How the journal batches, bounds and rolls its files."""

    commit_interval_s: float = 0.05
    """Longest a record waits before its block is written and fsync'd."""
    max_pending_bytes: int = 64 * 1024 * 1024
    """Above this many unwritten bytes ``backlogged`` is True (records are still accepted)."""
    max_segment_bytes: int = 256 * 1024 * 1024
    """A segment rolls before a block would take it past this size."""
    block_bytes: int = 1024 * 1024
    """Raw size at which a block is sealed and written without waiting for the interval."""
    write_slice_bytes: int = 8 * 1024 * 1024
    """At most this many raw bytes of sealed blocks per write-and-fsync: a backlog is written in
    slices, each made durable (and its bytes released) before the next, so the receive path resumes
    reading after the first slice instead of waiting for the whole backlog."""
    cutoff: dt.time = DEFAULT_CUTOFF
    """Trading-day cutoff, Asia/Seoul wall time."""
    zstd_level: int = 3
    retry_base_s: float = 0.5
    """First wait before a failed write (disk full, I/O error) is tried again; doubles per failure."""
    retry_cap_s: float = 5.0
    """Longest wait between two tries of a failing disk."""
    close_retry_s: float = 30.0
    """How long ``close`` keeps trying a failing disk before it gives up and reports the records lost."""
