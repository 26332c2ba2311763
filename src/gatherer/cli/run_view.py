"""What `gatherer run` shows while it records.

On a terminal: a live region at the bottom, redrawn every second: a progress bar for the masters
(n of N), one for the registrations (acknowledged of planned, with refusals and unanswered), and the
compact picture (``ops.status_text.compact``: markets, frames/s, lag, reconnects). Progress sentences
and log lines print above it. Not on a terminal (a pipe, systemd's journal): plain lines only, and
one summary line a minute on the ``gatherer.progress`` logger.

It reads the supervisor's picture (``Supervisor.status.latest``) and the progress sentences; it never
changes anything in the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from gatherer.logs import PROGRESS
from gatherer.ops.picture import Picture
from gatherer.ops.status_text import compact

SUMMARY_EVERY_S = 60.0
"""Not on a terminal: one summary line this often."""
_MASTER = re.compile(r"fetching the (\w+) master \((\d+) of (\d+)\)")


def summary_line(p: Picture) -> str:
    """The picture in one line, for logs: frames/s per market, lags, connections, registrations."""
    markets: dict[str, float] = {}
    for r in p.rates:
        markets[r.market] = markets.get(r.market, 0.0) + r.fps
    rates = ", ".join(f"{m} {fps:,.0f}/s" for m, fps in sorted(markets.items())) or "no frames yet"
    up = sum(n for s, n in p.connections.items() if s in ("registering", "streaming"))
    lag = max((w.durable_lag_s for w in p.workers), default=0.0)
    store = max((w.store_lag_s for w in p.workers), default=0.0)
    regs = p.registrations
    health = "healthy" if p.healthy else "attention: " + "; ".join(p.why[:3])
    return (
        f"status: {rates}; connections {up}/{sum(p.connections.values())} up,"
        f" {sum(w.reconnects_total for w in p.workers)} reconnects; registrations"
        f" {regs.get('acknowledged', 0):,}/{regs.get('planned', 0):,} ({regs.get('refused', 0)} refused);"
        f" lag durable {lag:.2f} s, store {store:.2f} s; {health}"
    )


class _Masters(logging.Handler):
    """Moves the masters bar from the supervisor's "fetching the X master (i of n)" sentences."""

    def __init__(self, bar: Progress) -> None:
        super().__init__(logging.INFO)
        self._bar = bar
        self._task: TaskID | None = None

    def emit(self, record: logging.LogRecord) -> None:
        m = _MASTER.search(record.getMessage())
        if m is None:
            return
        done, total = int(m.group(2)) - 1, int(m.group(3))
        if self._task is None:
            self._task = self._bar.add_task("masters", total=total)
        self._bar.update(self._task, completed=done, description=f"masters: {m.group(1)}")


class _View:
    def __init__(self, latest: Callable[[], Picture | None]) -> None:
        self.latest = latest
        self.bar = Progress(
            TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        )
        self._regs: TaskID | None = None

    def __rich__(self) -> RenderableType:
        p = self.latest()
        if p is None:
            return self.bar
        for task in self.bar.tasks:
            if task.description.startswith("masters"):
                self.bar.update(task.id, completed=task.total, description="masters")
        regs = p.registrations
        refused, unanswered = regs.get("refused", 0), regs.get("unanswered", 0)
        description = f"registrations ({refused} refused, {unanswered} unanswered)"
        if self._regs is None and regs.get("planned"):
            self._regs = self.bar.add_task(description, total=regs["planned"])
        if self._regs is not None:
            self.bar.update(self._regs, completed=regs.get("acknowledged", 0), description=description)
        return Group(self.bar, compact(p))


@contextlib.asynccontextmanager
async def run_view(console: Console, latest: Callable[[], Picture | None]) -> AsyncIterator[None]:
    """The live region while the block runs (a terminal), or a summary line a minute (otherwise)."""
    if not console.is_terminal:
        task = asyncio.create_task(_summaries(latest))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return
    view = _View(latest)
    masters = _Masters(view.bar)
    logging.getLogger(PROGRESS).addHandler(masters)
    with Live(view, console=console, refresh_per_second=1, redirect_stderr=True, transient=False):
        # Log lines of this process go through the live display's console, above the region.
        moved = [
            h
            for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        ]
        before = [h.setStream(sys.stderr) for h in moved]
        try:
            yield
        finally:
            for h, stream in zip(moved, before, strict=True):
                if stream is not None:
                    h.setStream(stream)
            logging.getLogger(PROGRESS).removeHandler(masters)


async def _summaries(latest: Callable[[], Picture | None]) -> None:
    log = logging.getLogger(PROGRESS)
    while True:
        await asyncio.sleep(SUMMARY_EVERY_S)
        p = latest()
        if p is not None:
            log.info(summary_line(p))


__all__ = ["run_view", "summary_line"]
