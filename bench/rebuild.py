"""bench/rebuild: `gatherer rebuild` of a recorded day on one process and on one per core.

Frames come from the simulator's market model (bench/store's stock-heavy mix), journaled by two
workers as a run with two worker processes would; the day is then rebuilt from the same journal,
alternately with ``processes=1`` and with one process per worker, ``--repeat`` times each, and the
best wall-clock times are compared in the same run (the machine is shared: the best of a few is
the one least disturbed). Each rebuild's phases are printed: the serial step before the jobs, each
job (process, start, length), the serial step after. Run: `make bench` or
`python -m bench.rebuild [--frames N] [--repeat R]`.

The rebuild processes come from a fork server that `gatherer rebuild` starts before it loads its
own modules (``run.rebuild_jobs.start_helpers``); here it is started before the first rebuild, as
the command would have. So that nothing hides there, the installed command itself is also run
(`gatherer rebuild --processes 1` and `--processes N` on copies of the same journal, each a process
of its own, wall clock including its start-up), and its ratio printed beside. This module imports
the simulator and the gatherer only inside ``main`` (a rebuild process imports ``__main__``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import record

WORKERS = ("w00", "w01")


async def journal_two_workers(root: Path, frames: list[tuple[int, bytes]]) -> None:
    """Every other frame to each worker, as two worker processes would journal them."""
    from gatherer.capture import Journal, Kind
    from gatherer.clock import ManualClock

    for k, worker in enumerate(WORKERS):
        journal = await Journal.open(root, worker, clock=ManualClock(frames[0][0]))
        for i, (recv_ns, payload) in enumerate(frames[k :: len(WORKERS)]):
            journal.append(Kind.FRAME, f"{worker}-c000", payload, recv_ns)
            if i % 50_000 == 0:
                await journal.flush()
        await journal.close()


def phases(report: Any) -> str:
    """One rebuild's wall clock: before the first job, each job, after the last one."""
    jobs = report.jobs
    first = min(j.started for j in jobs)
    last = max(j.started + j.seconds for j in jobs)
    each = ", ".join(
        f"{j.worker} pid {j.pid} {j.started:.2f}→{j.started + j.seconds:.2f} s ({j.cpu_seconds:.2f} s CPU)"
        for j in jobs
    )
    cores = sum(j.cpu_seconds for j in jobs) / (last - first)
    return (
        f"{report.seconds:.2f} s = before {first:.2f} s; jobs {each}; after {report.seconds - last:.2f} s;"
        f" the jobs had {cores:.2f} core(s) on average"
    )


def command(root: Path, day: object, processes: int) -> float:
    """Wall clock of the installed `gatherer rebuild` over ``root``'s day, start-up included."""
    gatherer = Path(sys.executable).with_name("gatherer")
    args = [str(gatherer), "rebuild", "--root", str(root), "--date", str(day), "--processes", str(processes)]
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - t0


def main(n: int, repeat: int) -> None:
    from bench.store import make_frames
    from gatherer.clock import trading_day_of
    from gatherer.run.pipeline import rebuild_day
    from gatherer.run.rebuild_jobs import start_helpers

    frames = make_frames(n)
    day = trading_day_of(frames[0][0])
    base = Path(tempfile.mkdtemp(prefix="gatherer-bench-rebuild-"))
    asyncio.run(journal_two_workers(base / "journaled", frames))
    del frames  # the rebuilds read the journal; a million live objects here would only slow their GC
    gc.collect()
    processes = {"one": 1, "many": os.cpu_count() or 1}
    best: dict[str, tuple[float, Any]] = {}
    best_cli: dict[str, float] = {}
    start_helpers()
    load = os.getloadavg()[0]
    for attempt in range(repeat):
        for name, count in processes.items():
            root = base / f"{name}-{attempt}"
            shutil.copytree(base / "journaled", root)
            took = command(root, day, count)
            best_cli[name] = min(took, best_cli.get(name, took))
            print(f"gatherer rebuild --processes {count}, try {attempt + 1}: {took:.2f} s", flush=True)
            shutil.rmtree(root / "parquet", ignore_errors=True)
            shutil.rmtree(root / "quarantine", ignore_errors=True)
            t0 = time.perf_counter()
            report = rebuild_day(root, day, version="bench", cutoffs=None, processes=count)
            took = time.perf_counter() - t0
            assert report.rows == n, report
            shutil.rmtree(root, ignore_errors=True)
            print(f"{name}, {report.processes} process(es), try {attempt + 1}: {phases(report)}", flush=True)
            if name not in best or took < best[name][0]:
                best[name] = (took, report)
    (t_one, one), (t_many, many) = best["one"], best["many"]
    speedup = t_one / t_many
    cli = best_cli["one"] / best_cli["many"]
    print(
        f"rebuild of {n:,} frames in {len(WORKERS)} worker journals: {speedup:.2f}x with {many.processes}"
        f" processes ({n / t_many:,.0f} frames/s) against 1 ({n / t_one:,.0f} frames/s), best of {repeat};"
        f" the `gatherer rebuild` command: {cli:.2f}x ({best_cli['many']:.1f} s against"
        f" {best_cli['one']:.1f} s)"
    )
    shutil.rmtree(base, ignore_errors=True)
    record(
        "rebuild (bench/rebuild.py)",
        f"""Command: `python -m bench.rebuild --frames {n} --repeat {repeat}` (`make bench`). {n:,} frames of
bench/store's mix, journaled by {len(WORKERS)} workers, rebuilt from the same journal with one process
and with one per worker (up to one per core), alternately, {repeat} times each; the best wall clock
of each, in one run (load {load:.2f} when the rebuilds began). Target: ≥ 1.6× on two cores. The
rebuild processes' fork server was started before the first rebuild, as `gatherer rebuild` starts it
before loading its own modules; the command's own figures (each a process of its own, start-up
included) are beside.

| figure | value |
|---|---|
| **speed-up, {many.processes} processes against 1** | **{speedup:.2f}×** |
| one process | {n / t_one:,.0f} frames/s ({t_one:.1f} s) |
| {many.processes} processes | {n / t_many:,.0f} frames/s ({t_many:.1f} s) |
| **the command, `gatherer rebuild --processes {many.processes}` against `1`** | **{cli:.2f}×** |
| the command, 1 process | {best_cli["one"]:.1f} s, start-up included |
| the command, {many.processes} processes | {best_cli["many"]:.1f} s, start-up included |

Phases of the best runs (wall clock from the rebuild's start; a job is one worker's journal; the
cores the jobs had are their CPU seconds over the wall clock of the jobs, below 1 per process when
other work on the machine took its share):

- one process: {phases(one)}
- {many.processes} processes: {phases(many)}
""",
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=2, help="rebuilds of each kind; the best is compared")
    args = ap.parse_args()
    main(args.frames, args.repeat)
