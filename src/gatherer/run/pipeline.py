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
import concurrent.futures
import contextlib
import datetime as dt
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatherer.capture import Damage, Journal, JournalSettings, list_segments
from gatherer.clock import Clock
from gatherer.errors import GathererError
from gatherer.files import swap_in_dir
from gatherer.plan.select import Registration
from gatherer.run.recorder import ConnectionStats
from gatherer.run.store import JournalTail, Store, follow
from gatherer.run.store_child import store_worker
from gatherer.run.store_process import drain_store, finish_store, start_store
from gatherer.run.worker import TokenRefusedHook, TokenSource, Worker, WorkerSettings
from gatherer.sinks import file_metadata
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


class RebuildError(GathererError):
    """A day cannot be rebuilt (no journal for it)."""


Progress = Callable[[int, int, int], None]
"""Called now and then with (journal bytes read, journal bytes in all, records read)."""


@dataclass(frozen=True, slots=True)
class _Rebuilt:
    """One worker's part of a rebuild (what a rebuild process sends back)."""

    files: int
    rows: int
    quarantined: int
    damage: tuple[Damage, ...]


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


def _rebuild_worker(
    staging: Path,
    worker: str,
    segments: Sequence[Path],
    day: dt.date,
    *,
    version: str,
    venue: str,
    cutoffs: Mapping[str, dt.time] | None,
    tick: Callable[[int, int], None],
) -> _Rebuilt:
    """The live store over one worker's finished segments of the day, into ``staging``; ``tick``
    gets (bytes, records) read since its last call, before every poll of the journal."""
    store = Store(staging, worker, version=version, venue=venue, cutoffs=cutoffs)
    tail = JournalTail(staging, worker, finished=segments)

    def polls() -> Iterator[bool]:
        said = [0, 0]
        while True:
            now = [tail.bytes_read, store.stats.records]
            tick(now[0] - said[0], now[1] - said[1])
            said = now
            yield True  # a finished journal: drain it and stop

    follow(tail, store, stop_requested=polls())
    mine = [w for w in store.written if w.trading_day == day]
    return _Rebuilt(len(mine), sum(w.rows for w in mine), store.stats.quarantined, tuple(tail.damage))


# A rebuild process's share of the progress counters (set by ``_init_child``).
_COUNTERS: tuple[Any, Any] | None = None


def _init_child(bytes_done: Any, records_done: Any) -> None:
    global _COUNTERS
    _COUNTERS = (bytes_done, records_done)


def _child_tick(n_bytes: int, n_records: int) -> None:
    assert _COUNTERS is not None
    for counter, n in zip(_COUNTERS, (n_bytes, n_records), strict=True):
        with counter.get_lock():
            counter.value += n


def _rebuild_in_child(
    staging: Path, worker: str, segments: Sequence[Path], day: dt.date, **kw: Any
) -> _Rebuilt:
    return _rebuild_worker(staging, worker, segments, day, tick=_child_tick, **kw)


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
    time (default: one per core): this process takes its share and spawned processes the rest; a
    single worker, or ``processes=1``, runs here alone.
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
        parts, records = _rebuild_workers(staging, workers, day, jobs, total, say, kw)
        outside = sum(
            int(file_metadata(p)["rows"])
            for p in (staging / "parquet").glob("date=*/*/*/*.parquet")
            if p.parts[-4] != f"date={day.isoformat()}"
        )
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
        rows_outside_day=outside,
        damage=tuple(d for p in parts for d in p.damage),
        records=records,
        processes=jobs,
        seconds=time.monotonic() - started,
    )


def _rebuild_workers(
    staging: Path,
    workers: Mapping[str, list[Path]],
    day: dt.date,
    jobs: int,
    total: int,
    say: Progress,
    kw: dict[str, Any],
) -> tuple[list[_Rebuilt], int]:
    """Every worker's journal through the store: ``jobs`` at a time, this process taking its share
    (every ``jobs``-th worker, with its imports warm) while ``jobs - 1`` spawned processes (clean
    interpreters, no inherited threads) take the rest; progress from shared counters."""
    names = sorted(workers)
    mine, theirs = names[::jobs], [w for i, w in enumerate(names) if i % jobs]
    ctx = multiprocessing.get_context("spawn")
    bytes_done, records_done = ctx.Value("q", 0), ctx.Value("q", 0)
    here = [0, 0]

    def tick(n_bytes: int, n_records: int) -> None:
        here[0] += n_bytes
        here[1] += n_records
        say(here[0] + bytes_done.value, total, here[1] + records_done.value)

    futures: list[concurrent.futures.Future[_Rebuilt]] = []
    with contextlib.ExitStack() as stack:
        if theirs:
            pool = stack.enter_context(
                concurrent.futures.ProcessPoolExecutor(
                    jobs - 1, mp_context=ctx, initializer=_init_child, initargs=(bytes_done, records_done)
                )
            )
            futures = [pool.submit(_rebuild_in_child, staging, w, workers[w], day, **kw) for w in theirs]
        done = {w: _rebuild_worker(staging, w, workers[w], day, tick=tick, **kw) for w in mine}
        pending = set(futures)
        while pending:
            _, pending = concurrent.futures.wait(pending, timeout=0.2)
            tick(0, 0)
        done.update(zip(theirs, (f.result() for f in futures), strict=True))
    return [done[w] for w in names], here[1] + int(records_done.value)


__all__ = ["RebuildError", "RebuildReport", "Recorded", "StoreArgs", "rebuild_day", "record", "store_worker"]
