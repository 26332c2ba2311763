"""The sink's day ledgers: ``ledger/date=D/`` written on the sink host from its journal replicas.

``gatherer sink`` keeps each collector's worker's journal as a replica (``capture.replica``), so the
day's ledger is built from the same records the collector builds its own from
(``gatherer.ledger.write_ledger``). When it is written follows the supervisor's ``GapKeeper``, on the
sink's clock: a day whose records came is due once the sink's clock is past that day's cutoff and
no record of it came for ``quiet_s`` (records of a day still arrive after its cutoff while a
publisher catches up; one that comes later still makes the day due again, and the ledger is written
anew: it is built from the files alone, so writing it twice says the same). When the sink stops,
the ledger of every day it got records of and has not written since is written, the day in progress
included. Only days whose records are checkpointed are handed here (``Sink.take_days`` after
``Sink.checkpoint``), so a ledger never reads a block that is not on disk.

With ``journal_keep_days`` (``[storage]`` of the sink's ``--config``) the replicas follow the
collector's journal retention (``run.retention``: a day goes once every data frame of it is in the
sink's Parquet or quarantine), at the start and after each finished day's ledger.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

from gatherer.clock import Clock, trading_day_of
from gatherer.ledger import write_ledger
from gatherer.run.retention import apply_retention

log = logging.getLogger(__name__)

QUIET_S = 30.0
"""A finished day's ledger is written once no record of it came for this long."""


class SinkLedgers:
    def __init__(self, root: Path, clock: Clock, *, keep_days: int | None, quiet_s: float = QUIET_S) -> None:
        self.root = root
        self.clock = clock
        self.keep_days = keep_days
        self.quiet_s = quiet_s
        self._last: dict[dt.date, float] = {}
        """Days whose ledger is not written since their last record -> when that record was noted."""
        self.written = 0

    def note(self, days: set[dt.date], now_s: float) -> None:
        """``days`` got records, now on disk (``now_s``: the event loop's time)."""
        for day in days:
            self._last[day] = now_s

    def due(self, now_s: float) -> list[dt.date]:
        today = trading_day_of(self.clock.time_ns())
        return sorted(d for d, at in self._last.items() if d < today and now_s - at >= self.quiet_s)

    async def write_due(self, now_s: float) -> None:
        """The ledgers of the finished days that are due, then the replicas' retention."""
        days = self.due(now_s)
        for day in days:
            await self._write(day)
        if days:
            await self.retain()

    async def write_all(self) -> None:
        """At the stop: every day noted and not written since, the day in progress included."""
        for day in sorted(self._last):
            await self._write(day)

    async def _write(self, day: dt.date) -> None:
        del self._last[day]
        try:
            # A thread: a whole day's journal is read; the sink's connection must stay served meanwhile.
            ledger = await asyncio.to_thread(write_ledger, self.root, day)
        except OSError as exc:
            log.error("could not write the ledger of %s: %s; run `gatherer ledger --root %s --date %s`",
                      day, exc, self.root, day)  # fmt: skip
            return
        self.written += 1
        log.info("ledger %s: %d (TR, key), %d gap row(s)", day, len(ledger.coverage), len(ledger.gaps))

    async def retain(self) -> None:
        if self.keep_days is None:
            return
        try:
            report = await asyncio.to_thread(apply_retention, self.root, self.keep_days, self.clock)
        except OSError as exc:
            log.error("journal retention under %s failed: %s; the days stay", self.root, exc)
            return
        for day in report.removed:
            log.info("journal replica day %s removed (older than %d days, all in Parquet)",
                     day, self.keep_days)  # fmt: skip


__all__ = ["QUIET_S", "SinkLedgers"]
