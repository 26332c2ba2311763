"""The parallel part of ``gatherer rebuild``: every worker's journal of a day through its own store,
spread over the cores (``run.pipeline.rebuild_day`` wires the rest: the journal days, the staging
root, the swap).

A worker's journal is one sequence (volume chains, session phases, file names all follow from it),
so the unit of work is one worker's segments of the day: a rebuild with one process and with N
write the same files. What makes N processes fast is keeping every core busy to the end:

- the jobs are taken largest first (journal bytes), each by whichever process is free, so one big
  journal does not finish alone after the small ones were shared out;
- this process takes jobs too (imports warm), while ``processes - 1`` others are started before
  it runs its first job;
- those come from a fork server (``multiprocessing``'s ``forkserver``: one clean interpreter,
  single-threaded, so nothing a thread of this process holds is inherited) that has imported the
  store once (``run.store``, not ``run.pipeline``, which brings the receive side for nothing):
  ``start_helpers`` starts it, and ``gatherer rebuild`` calls that first, so the server's imports
  overlap the command's own and a rebuild process starts in milliseconds;
- what each store wrote is reported by the store itself (``Store.written``), so no serial pass
  over the staged files' footers follows the parallel part.

bench/rebuild prints the speed-up against one process, and the phases.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import datetime as dt
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext

    from gatherer.capture import Damage

HELPER_PRELOAD = ["__main__", "gatherer.run.store", "gatherer.run.rebuild_jobs"]
"""What the fork server imports before it forks the first rebuild process (``__main__``: the
command's script, which a child would otherwise import again)."""

Tick = Callable[[int, int], None]
"""Called with (journal bytes, records) read since the last call."""


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """One worker's part of a rebuild (what a rebuild process sends back)."""

    files: int
    rows: int
    quarantined: int
    damage: tuple[Damage, ...]
    rows_outside_day: int = 0
    """Rows the store filed under another trading day (written to staging, not swapped in)."""
    timing: JobTiming | None = None


@dataclass(frozen=True, slots=True)
class JobTiming:
    """Where and when one worker's journal was rebuilt (bench/rebuild prints them)."""

    worker: str
    pid: int
    started: float
    """``time.monotonic()`` at the job's start (one clock for every process of the machine)."""
    seconds: float
    cpu_seconds: float = 0.0
    """CPU time the job's process spent on it (``time.process_time``): below ``seconds``, the job
    waited for a core (other processes on the machine)."""


def rebuild_worker(
    staging: Path,
    worker: str,
    segments: Sequence[Path],
    day: dt.date,
    *,
    version: str,
    venue: str,
    cutoffs: Mapping[str, dt.time] | None,
    tick: Tick,
) -> Rebuilt:
    """The live store over one worker's finished segments of the day, into ``staging``; ``tick``
    gets (bytes, records) read since its last call, before every poll of the journal."""
    from gatherer.run.store import JournalTail, Store, follow  # here: ``start_helpers`` needs no store

    started, cpu = time.monotonic(), time.process_time()
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
    return Rebuilt(
        len(mine),
        sum(w.rows for w in mine),
        store.stats.quarantined,
        tuple(tail.damage),
        rows_outside_day=sum(w.rows for w in store.written if w.trading_day != day),
        timing=JobTiming(worker, os.getpid(), started, time.monotonic() - started, time.process_time() - cpu),
    )


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
) -> Rebuilt:
    return rebuild_worker(staging, worker, segments, day, tick=_child_tick, **kw)


def helpers() -> ForkServerContext:
    """The context rebuild processes are started in: forked by a server that has imported the store."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(HELPER_PRELOAD)
    return ctx


def start_helpers() -> None:
    """Start the fork server now (it imports the store in the background; returns at once), so a
    rebuild on several processes later starts each in milliseconds. Harmless when it is running.

    The server, and so every process it forks, starts without this process's ``GATHERER_*``
    variables (the app keys and secrets, the bus and status tokens): a rebuild process gets all it
    needs as arguments, and must not hold a secret."""
    from multiprocessing import forkserver

    helpers()
    kept = {k: os.environ.pop(k) for k in [k for k in os.environ if k.startswith("GATHERER_")]}
    try:
        forkserver.ensure_running()  # the server (and the resource tracker) copy os.environ as it is now
    finally:
        os.environ.update(kept)


def largest_first(workers: Mapping[str, Sequence[Path]]) -> list[str]:
    """The order jobs are taken in: most journal bytes first, then by name."""
    size = {w: sum(p.stat().st_size for p in segs) for w, segs in workers.items()}
    return sorted(workers, key=lambda w: (-size[w], w))


def rebuild_workers(
    staging: Path,
    workers: Mapping[str, Sequence[Path]],
    day: dt.date,
    *,
    processes: int,
    say: Tick,
    **kw: Any,
) -> tuple[dict[str, Rebuilt], int]:
    """Every worker's journal through its store, ``processes`` at a time: this process and
    ``processes - 1`` forked by the helpers' server each take the largest job left until none is. ``say`` gets
    (bytes, records) read in all so far, now and then. Returns each worker's part and the records read.
    The first error of any job is raised once the running jobs have ended; no new job starts after it."""
    left = collections.deque(largest_first(workers))
    done: dict[str, Rebuilt] = {}
    errors: list[BaseException] = []
    children = min(processes, len(workers)) - 1
    if children > 0:
        start_helpers()  # before the counters below: their semaphores start the resource tracker
    ctx = helpers()
    bytes_done, records_done = ctx.Value("q", 0), ctx.Value("q", 0)
    here = [0, 0]

    def take() -> str | None:
        if errors:
            return None
        try:
            return left.popleft()  # atomic: the feeders and this thread take from one deque
        except IndexError:
            return None

    def tick(n_bytes: int, n_records: int) -> None:
        here[0] += n_bytes
        here[1] += n_records
        say(here[0] + bytes_done.value, here[1] + records_done.value)

    def feed(pool: concurrent.futures.ProcessPoolExecutor) -> None:
        """One child's jobs, one at a time (so a free process, this one or a child, takes the next)."""
        while (worker := take()) is not None:
            try:
                done[worker] = pool.submit(
                    _rebuild_in_child, staging, worker, workers[worker], day, **kw
                ).result()
            except BaseException as exc:  # reported by the caller's thread, below
                errors.append(exc)

    worker = take()  # the largest job is this process's: it starts now, the children must spawn first
    with contextlib.ExitStack() as stack:
        feeders: list[threading.Thread] = []
        if children > 0:
            pool = concurrent.futures.ProcessPoolExecutor(
                children, mp_context=ctx, initializer=_init_child, initargs=(bytes_done, records_done)
            )
            # Not waiting for the children to exit: once every feeder has joined, each job's files are
            # closed and its result is in; an interpreter's teardown is no part of the rebuild.
            stack.callback(pool.shutdown, wait=False, cancel_futures=True)
            feeders = [threading.Thread(target=feed, args=(pool,), daemon=True) for _ in range(children)]
            for thread in feeders:
                thread.start()  # the children spawn now, while this process runs its first job
        try:
            while worker is not None:
                done[worker] = rebuild_worker(staging, worker, workers[worker], day, tick=tick, **kw)
                worker = take()
        except BaseException as exc:
            errors.append(exc)
        for thread in feeders:
            while thread.is_alive():
                thread.join(timeout=0.2)
                tick(0, 0)
    if errors:
        raise errors[0]
    tick(0, 0)
    return done, here[1] + int(records_done.value)


__all__ = [
    "HELPER_PRELOAD",
    "JobTiming",
    "Rebuilt",
    "largest_first",
    "rebuild_worker",
    "rebuild_workers",
    "start_helpers",
]
