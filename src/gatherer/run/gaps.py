"""The run's gap duties: backfill cumulative-volume gaps over REST while recording, write each
finished day's ledger a little after its cutoff, and one bounded last pass when the run stops.

The supervisor owns one ``GapKeeper``; what it does is ``gatherer.ledger`` (``Backfiller``,
``write_ledger``), on the supervisor's clock, in threads where a whole day's journal is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path

from gatherer.clock import Clock, trading_day_of
from gatherer.config import Config
from gatherer.errors import GathererError
from gatherer.ledger import write_ledger
from gatherer.ledger.backfill import Backfiller, PassStats
from gatherer.run.prepare import Progress
from gatherer.venues.ls.rest import RestClient

log = logging.getLogger(__name__)

FINAL_BACKFILL_S = 30.0
"""How long a stopping run may still backfill."""


class GapKeeper:
    def __init__(self, cfg: Config, root: Path, clock: Clock, say: Progress, passes: list[PassStats]) -> None:
        self.cfg = cfg
        self.root = root
        self.clock = clock
        self.say = say
        self.passes = passes
        """Every backfill pass's figures, for the run's summary."""

    async def final_backfill(self, client: RestClient, today: dt.date, hurry: asyncio.Event) -> None:
        """One last pass over the day's gaps, bounded so that stopping stays prompt; ``hurry`` ends it."""
        passing = asyncio.create_task(self.backfill_pass(client, today))
        hurrying = asyncio.create_task(hurry.wait())
        done, _ = await asyncio.wait(
            {passing, hurrying}, timeout=FINAL_BACKFILL_S, return_when=asyncio.FIRST_COMPLETED
        )
        hurrying.cancel()
        if passing not in done:
            passing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await passing
            if not hurry.is_set():
                self.say(
                    f"backfill stopped after {FINAL_BACKFILL_S:.0f} s; the rest of the day's gaps stay"
                    f" pending: `gatherer backfill --date {today}` fills them today"
                )

    async def backfill_pass(self, client: RestClient, day: dt.date) -> None:
        backfiller = Backfiller(self.root, client, self.clock, max_pages=self.cfg.backfill.max_pages)
        try:
            stats = await backfiller.run_pass(day)
        except (GathererError, OSError) as exc:
            log.error("backfill pass for %s failed: %s; the gaps stay pending and are tried again", day, exc)
            return
        self.passes.append(stats)
        if stats.tried or stats.deferred:
            done = ", ".join(f"{n} {s}" for s, n in sorted(stats.by_status.items())) or "none finished"
            self.say(f"backfill {day}: {stats.tried} gap(s) tried ({done}), {stats.deferred} deferred")

    async def loop(self, stop: asyncio.Event, client: RestClient) -> None:
        """Every ``backfill.interval_s``: backfill the day's new gaps; after a cutoff, write the
        finished day's ledger once its stores have had time to checkpoint."""
        due: dict[dt.date, float] = {}
        loop = asyncio.get_running_loop()
        day = trading_day_of(self.clock.time_ns())
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cfg.backfill.interval_s)
            if stop.is_set():
                return
            now = trading_day_of(self.clock.time_ns())
            if now != day:
                due[day] = loop.time() + self.cfg.storage.parquet_flush_s + 30.0
                day = now
            if self.cfg.backfill.enabled:
                await self.backfill_pass(client, now)
            for old, at in list(due.items()):
                if loop.time() >= at:
                    if self.cfg.backfill.enabled:
                        # Gaps of the ended day still pending: the TRs serve the current day only, so
                        # they are recorded as not fillable, with that reason, rather than left pending.
                        await self.backfill_pass(client, old)
                    await self.write_ledger(old)
                    del due[old]

    async def write_ledger(self, day: dt.date) -> None:
        try:
            # A thread: a whole day's journal is read, and the supervisor must keep watching meanwhile.
            ledger = await asyncio.to_thread(write_ledger, self.root, day)
        except OSError as exc:
            log.error("could not write the ledger of %s: %s; run `gatherer ledger --date %s`", day, exc, day)
            return
        outages = sum(1 for g in ledger.gaps if g.kind == "outage")
        volume = sum(1 for g in ledger.gaps if g.kind == "volume")
        self.say(
            f"ledger {day}: {len(ledger.coverage):,} (TR, key), {outages} outage row(s),"
            f" {volume} volume gap(s)"
        )
