"""The pipeline, wired in one place: socket -> journal on one side, journal -> Parquet on the other.

Receive side, ``record``: one worker's connections (``run.worker.Worker``, each connection's frames
through its ``run.recorder.Recorder`` into the journal), its journal, and its decode-and-store child
process (``run.store_process``) following that journal, from open to a drained stop. The worker
process (``gatherer _worker``, ``run.worker_main``) runs it, and so do the tests.

Store side: one worker's journal is turned into Parquet by one ``Store`` (``run.store``: the
decoder, the volume chains, the Parquet sink and the quarantine, with checkpoints) fed by one
``JournalTail`` (whole blocks, in seq order) through ``follow``. Every way of writing Parquet goes
through here:

- ``store_worker``: the live decode-and-store process of one worker (``gatherer _store``, started
  by ``gatherer run``): it resumes after the worker's checkpoint and follows the journal as it
  grows until its parent says the journal is closed, then drains it;
- ``rebuild_day``: ``gatherer rebuild``: the same store, run over each worker's finished journal
  of one day into a staging root, then swapped in for the day's Parquet and quarantine. So a
  rebuild is the live store over a finished journal, and the two cannot drift apart.

The journal between the two sides is the only queue, on disk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gatherer.capture import Damage, Journal, JournalSettings, list_segments
from gatherer.clock import Clock
from gatherer.errors import GathererError
from gatherer.files import swap_in_dir
from gatherer.plan.select import Registration
from gatherer.run.rebuild_jobs import JobTiming, rebuild_workers
from gatherer.run.recorder import ConnectionStats
from gatherer.run.store_child import store_worker
from gatherer.run.store_process import drain_store, finish_store, start_store
from gatherer.run.worker import TokenRefusedHook, TokenSource, Worker, WorkerSettings
from gatherer.venues.ls.hours import SessionWindows
from gatherer.venues.ls.night import MAX_GAP_DAYS as NIGHT_MAX_GAP_DAYS
from gatherer.venues.ls.night import night_date

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoreArgs:
    """How the decode-and-store child of a recording runs (``gatherer _store``)."""

    venue: str
    """The venue's URL, written into each Parquet file's metadata."""
    cutoffs: Mapping[str, dt.time]
    flush_s: float = 300.0
    log_flags: Sequence[str] = ()


@dataclass
class Recorded:
    """What one recording did: its journal's seq range, its connections, its store's figures."""

    first_seq: int
    end_seq: int = 0
    connections: list[ConnectionStats] = field(default_factory=list)
    store: dict[str, Any] = field(default_factory=dict)
    disk_incidents: int = 0


async def record(
    root: Path,
    settings: WorkerSettings,
    *,
    ws_url: str,
    groups: Sequence[Sequence[Registration]],
    keys: Sequence[int],
    token: TokenSource,
    clock: Clock,
    stop: asyncio.Event,
    store: StoreArgs | None,
    on_token_refused: TokenRefusedHook | None = None,
    sessions: SessionWindows | None = None,
    session_groups: Mapping[str, str] | None = None,
    journal_settings: JournalSettings | None = None,
    on_start: Callable[[Worker, Recorded], None] | None = None,
) -> Recorded:
    """Record until ``stop``: connections -> journal, and the journal's store child alongside.

    Then the connections close, the journal is fsync'd and closed, and the store drains it into
    Parquet; a store that did not finish (killed, or cut short as it started) is followed by one more
    that drains the journal, so nothing journaled stays out of Parquet. ``on_start`` sees the worker
    (its live ``stats``; ``update_sessions``) once it exists.
    """
    journal = await Journal.open(root, settings.worker_id, settings=journal_settings, clock=clock)
    done = Recorded(first_seq=journal.next_seq)
    wid = settings.worker_id
    child = (
        await start_store(root, wid, store.venue, store.cutoffs, store.flush_s, store.log_flags)
        if store is not None
        else None
    )
    try:
        worker = Worker(
            ws_url=ws_url,
            token=token,
            on_token_refused=on_token_refused,
            journal=journal,
            groups=groups,
            keys=keys,
            clock=clock,
            sessions=sessions,
            session_groups=session_groups,
            settings=settings,
        )
        done.connections = worker.stats
        if on_start is not None:
            on_start(worker, done)
        await worker.run(stop)
    finally:
        done.end_seq = journal.next_seq
        try:
            await journal.close()
        finally:
            done.disk_incidents = journal.disk_incidents
            if child is not None and store is not None:
                done.store = await finish_store(child)
                if "failed" in done.store:
                    log.error(
                        "the decode-and-store process ended with exit %s; draining the journal again",
                        done.store["failed"],
                    )
                    done.store = await drain_store(root, wid, store.venue, store.cutoffs, store.log_flags)
    return done


@dataclass(frozen=True, slots=True)
class RebuildReport:
    day: dt.date
    workers: tuple[str, ...]
    files: int
    rows: int
    quarantined: int
    rows_outside_day: int
    """Rows the decoder placed on another trading day (a per-market cutoff); not written here."""
    damage: tuple[Damage, ...]
    records: int = 0
    """Journal records read (frames, sent registrations, events)."""
    processes: int = 1
    seconds: float = 0.0
    jobs: tuple[JobTiming, ...] = ()
    """Each worker's job: its process, its start (since the rebuild's) and its length, in start order."""


class RebuildError(GathererError):
    """A day cannot be rebuilt (no journal for it)."""


Progress = Callable[[int, int, int], None]
"""Called now and then with (journal bytes read, journal bytes in all, records read)."""


def journal_dir(root: Path, day: dt.date) -> Path:
    return root / "journal" / f"date={day.isoformat()}"


def night_evenings(root: Path, day: dt.date) -> list[dt.date]:
    """Journal days before ``day`` whose evening's KRX night session is dated ``day`` (the rows of
    DH0/DC0 take the next session date, ``venues.ls.night``): a rebuild of ``day`` reads them too.
    The XKRX calendar is built only when such a journal day exists."""
    candidates = [
        day - dt.timedelta(days=back)
        for back in range(NIGHT_MAX_GAP_DAYS + 3, 0, -1)
        if journal_dir(root, day - dt.timedelta(days=back)).is_dir()
    ]
    return [d for d in candidates if night_date(d) == day]


def _journal_workers(journal_day: Path) -> dict[str, list[Path]]:
    workers: dict[str, list[Path]] = {}
    if not journal_day.is_dir():
        return workers
    for seg in list_segments(journal_day):
        workers.setdefault(seg.name.rsplit("-", 1)[0], []).append(seg)
    return workers


def rebuild_day(
    root: Path | str,
    day: dt.date,
    *,
    version: str,
    cutoffs: Mapping[str, dt.time] | None,
    venue: str = "rebuild",
    processes: int | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Re-derive ``parquet/date=DAY`` and ``quarantine/date=DAY`` from ``journal/date=DAY`` (and the
    journal days whose evening's night session is dated DAY, ``night_evenings``).

    Each worker's segments of the day go through the live store (``Store`` and ``follow``) under
    that worker's id, into a staging root beside the data; the staged day then replaces the live
    one in one rename (``files.swap_in_dir``). Rows the per-market cutoffs put on another day are
    counted, not written. The day must not be one a worker is still writing.

    Workers' journals are independent, so they are rebuilt in parallel, up to ``processes`` at a
    time (default: one per core): this process and spawned ones each take the largest journal left
    (``run.rebuild_jobs``); a single worker, or ``processes=1``, runs here alone. The files are the
    same whatever the number of processes.
    """
    started = time.monotonic()
    root = Path(root)
    journal_day = root / "journal" / f"date={day.isoformat()}"
    workers: dict[str, list[Path]] = {}
    for evening in [*night_evenings(root, day), day]:
        for worker, segments in _journal_workers(journal_dir(root, evening)).items():
            workers.setdefault(worker, []).extend(segments)
    if not workers:
        raise RebuildError(f"no journal segments under {journal_day}; nothing to rebuild {day} from")
    total = sum(p.stat().st_size for segs in workers.values() for p in segs)
    jobs = max(1, min(processes or os.cpu_count() or 1, len(workers)))
    say = progress or (lambda _b, _t, _r: None)
    (root / ".rebuild").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"date={day.isoformat()}-", dir=root / ".rebuild"))
    kw: dict[str, Any] = {"version": version, "venue": venue, "cutoffs": cutoffs}
    try:
        done, records = rebuild_workers(
            staging, workers, day, processes=jobs, say=lambda b, r: say(b, total, r), **kw
        )
        parts = [done[w] for w in sorted(workers)]
        for kind in ("parquet", "quarantine"):
            swap_in_dir(staging / kind / f"date={day.isoformat()}", root / kind / f"date={day.isoformat()}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RebuildReport(
        day,
        tuple(sorted(workers)),
        files=sum(p.files for p in parts),
        rows=sum(p.rows for p in parts),
        quarantined=sum(p.quarantined for p in parts),
        rows_outside_day=sum(p.rows_outside_day for p in parts),
        damage=tuple(d for p in parts for d in p.damage),
        records=records,
        processes=jobs,
        seconds=time.monotonic() - started,
        jobs=tuple(
            sorted(
                (replace(p.timing, started=p.timing.started - started) for p in parts if p.timing),
                key=lambda j: j.started,
            )
        ),
    )


__all__ = ["RebuildError", "RebuildReport", "Recorded", "StoreArgs", "rebuild_day", "record", "store_worker"]
