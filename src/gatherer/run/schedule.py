"""Every trading day by itself: ``gatherer run --schedule`` (or ``[schedule] enabled = true``).

The scheduler waits, on the injected clock, through nights, weekends and holidays. The session
windows of the configured markets (``venues.ls.hours``: exchange calendars and each exchange's
hours; KRX markets by XKRX, overseas ones by their exchanges' groups as the latest masters on disk
name them, else CME Globex's) say when the next trading day's first market opens and its last one
closes. ``lead_min`` before that open it starts a supervisor (``run.supervisor``), which plans and
records as ``gatherer run`` always does; ``grace_min`` after that close it stops it the orderly way,
then (``[schedule] seal``) scores the day (``ledger.assess``), seals it (``seal``) and writes
``reports/date=D.html``, and waits for the next day. A stop signal ends the wait or the day at once;
a day stopped by a signal is not sealed.

Nothing connects while it waits: no token is asked for and no socket opened until the start time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from gatherer.clock import Clock, to_seoul, trading_day_of
from gatherer.config import Config
from gatherer.run.sessions import span_of
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.exchanges import DEFAULT_OVERSEAS_GROUP, KRX_MARKETS, exchange_group
from gatherer.venues.ls.hours import SessionWindows, session_windows

log = logging.getLogger(__name__)

_NS = 1_000_000_000
MAX_WAIT_S = 60.0
"""The clock is read again at least this often (real seconds) while waiting."""


@dataclass(frozen=True, slots=True)
class Session:
    """One trading day's recording: start (first open - lead) to end (last close + grace)."""

    day: dt.date
    start_ns: int
    open_ns: int
    close_ns: int
    end_ns: int
    first_group: str


def watched_groups(cfg: Config, root: Path) -> set[str]:
    """The session groups of the configured markets; overseas ones from the newest masters on disk."""
    groups: set[str] = set()
    for market in cfg.markets:
        if market in KRX_MARKETS:
            groups.add(market)
            continue
        masters = sorted((root / "masters").glob(f"date=*/{market}.parquet"))
        codes: Iterable[object] = ()
        if masters and "ExchCd" in pq.read_schema(masters[-1]).names:
            codes = set(pq.read_table(masters[-1], columns=["ExchCd"]).column("ExchCd").to_pylist())
        found = {exchange_group(str(c or ""))[0] for c in codes}
        groups |= found or {DEFAULT_OVERSEAS_GROUP}
    return groups


def next_session(
    windows: SessionWindows, groups: set[str], now_ns: int, lead_ns: int, grace_ns: int
) -> Session | None:
    """The trading day whose recording is under way or next: None if the windows hold none."""
    spans = [(s, e, g) for g in groups for s, e in windows.windows.get(g, []) if e + grace_ns > now_ns]
    if not spans:
        return None
    first_start, _e, first_group = min(spans)
    day = trading_day_of(first_start)
    same_day = [e for s, e, _g in spans if trading_day_of(s) == day]
    close = max(same_day)
    return Session(day, first_start - lead_ns, first_start, close, close + grace_ns, first_group)


async def sleep_until(clock: Clock, target_ns: int, stop: asyncio.Event) -> bool:
    """Wait on ``clock`` until it reads ``target_ns``: True then, False if ``stop`` is set first."""
    while not stop.is_set():
        left_s = (target_ns - clock.time_ns()) / _NS
        if left_s <= 0:
            return True
        speed = float(getattr(clock, "speed", 1.0)) or 1.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.001, min(left_s / speed, MAX_WAIT_S)))
    return False


def _hm(ns: int) -> str:
    return to_seoul(ns).strftime("%a %Y-%m-%d %H:%M")


class Scheduler:
    """The schedule's three steps, driven by ``cli/schedule.py`` around one supervisor run a day:
    ``session`` waits for the next trading day's start, ``until_end`` ends the day's recording at its
    last close plus the grace, ``close_day`` scores, seals and reports a day that ended by itself.

    ``close_day`` asks the venue for every recorded trade feed's volume within the TRs' per-second
    limits (about 2,000 KOSPI stocks at t1301's 2 a second: some 17 minutes); a stop signal cancels
    it (``cli/schedule.py``), and `gatherer quality` and `gatherer seal` finish the day by hand."""

    def __init__(
        self,
        cfg: Config,
        credentials: list[Credentials],
        *,
        clock: Clock,
        say: Callable[[str], None],
    ) -> None:
        self.cfg = cfg
        self.credentials = credentials
        self.clock = clock
        self.say = say
        self.root = Path(cfg.storage.root)

    async def session(self, stop: asyncio.Event) -> Session | None:
        """The next session, after waiting for its start; None if stopped while waiting."""
        lead = int(self.cfg.schedule.lead_min * 60 * _NS)
        grace = int(self.cfg.schedule.grace_min * 60 * _NS)
        while not stop.is_set():
            now = self.clock.time_ns()
            groups = await asyncio.to_thread(watched_groups, self.cfg, self.root)
            # Only the watched groups' calendars: seconds of CPU each, in a thread.
            windows = await asyncio.to_thread(session_windows, *span_of(now), groups)
            found = next_session(windows, groups, now, lead, grace)
            if found is None:
                # No window in the computed span (a long holiday): look again a day later.
                self.say(
                    f"no trading session of {', '.join(sorted(groups))} in sight; looking again in a day"
                )
                if not await sleep_until(self.clock, now + 86_400 * _NS, stop):
                    return None
                continue
            if now < found.start_ns:
                self.say(
                    f"waiting until {_hm(found.start_ns)} Seoul: trading day {found.day},"
                    f" {found.first_group} opens at {_hm(found.open_ns)[-5:]}"
                )
                if not await sleep_until(self.clock, found.start_ns, stop):
                    return None
            return found
        return None

    async def until_end(self, found: Session, stop: asyncio.Event, day_stop: asyncio.Event) -> None:
        """Set ``day_stop`` at the session's end (last close + grace), or when ``stop`` is set."""
        await sleep_until(self.clock, found.end_ns, stop)
        if not stop.is_set():
            self.say(
                f"trading day {found.day}: the last market closed at {_hm(found.close_ns)[-5:]}; stopping"
            )
        day_stop.set()

    async def close_day(self, day: dt.date, version: str) -> None:
        """Score the day over REST, seal it and write ``reports/date=D.html``."""
        from gatherer.ledger.assess import assess_day
        from gatherer.ops.html import gather, render_html
        from gatherer.ops.report import build_report
        from gatherer.run.prepare import rest_client
        from gatherer.seal import seal_day

        async with rest_client(self.cfg, self.credentials[0], self.clock) as client:
            path, _rows = await assess_day(self.root, day, client, say=self.say)
        now = dt.datetime.fromtimestamp(self.clock.time_ns() / _NS, dt.UTC)
        manifest = await asyncio.to_thread(seal_day, self.root, day, now=now, version=version)
        report = await asyncio.to_thread(build_report, self.root, day)
        data = await asyncio.to_thread(gather, self.root, report)
        page = self.root / "reports" / f"date={day.isoformat()}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(page.write_text, render_html(data, version=version) + "\n", encoding="utf-8")
        self.say(
            f"trading day {day}: {path.name} written, {len(manifest.files):,} file(s) sealed, report {page}"
        )
