"""``gatherer run --schedule``: the supervisor once per trading day, waiting in between
(``gatherer.run.schedule``); after each day that ended by itself its quality file, seal and HTML
report. The first SIGINT/SIGTERM/SIGHUP ends the wait, or stops the day's recording the orderly
way (a second one hurries, as in ``gatherer run``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from typing import Any

from gatherer.cli.common import _stop_on_signals, out, progress
from gatherer.errors import GathererError

log = logging.getLogger(__name__)


async def run_scheduled(
    args: argparse.Namespace, cfg: Any, credentials: list[Any], workers: int, clock: Any
) -> int:
    from gatherer import __version__
    from gatherer.cli.run import _RunFigures, _summary_table
    from gatherer.clock import SystemClock
    from gatherer.logs import child_flags
    from gatherer.run.schedule import Scheduler
    from gatherer.run.supervisor import Supervisor

    hurry = asyncio.Event()
    stop = _stop_on_signals(hurry)
    clock = clock or SystemClock()
    scheduler = Scheduler(cfg, credentials, clock=clock, say=progress)
    progress(
        f"scheduled: {', '.join(cfg.markets)}; starting {cfg.schedule.lead_min:g} min before the first open,"
        f" stopping {cfg.schedule.grace_min:g} min after the last close"
    )
    while not stop.is_set():
        found = await scheduler.session(stop)
        if found is None:
            break
        day_stop = asyncio.Event()
        ender = asyncio.create_task(scheduler.until_end(found, stop, day_stop), name="day-end")
        supervisor = Supervisor(
            cfg, credentials, workers=workers, progress=progress, clock=clock,
            log_flags=child_flags(args.verbose, args.log_file),
        )  # fmt: skip
        try:
            result = await supervisor.run(day_stop, hurry=hurry)
        finally:
            ender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ender
        title = f"gatherer run --schedule: {found.day}"
        out.print(_summary_table(_RunFigures.of_supervisor(result), title), soft_wrap=True)
        if stop.is_set():
            progress(f"stopped by a signal: trading day {found.day} is not sealed (`gatherer seal` does it)")
            break
        if cfg.schedule.seal and not await _close(scheduler, found.day, __version__, stop):
            break
    return 0


async def _close(scheduler: Any, day: Any, version: str, stop: asyncio.Event) -> bool:
    """Close the day (quality, seal, report) unless a stop signal comes first; False if it did."""
    closing = asyncio.create_task(scheduler.close_day(day, version), name="close-day")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    await asyncio.wait({closing, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not closing.done():
        closing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closing
        progress(
            f"stopped while closing trading day {day}: `gatherer quality --date {day}` and"
            f" `gatherer seal --date {day}` finish it"
        )
        return False
    try:
        closing.result()
    except (GathererError, OSError) as exc:
        log.error("closing trading day %s failed: %s; `gatherer quality` and `seal` do it", day, exc)
    return True
