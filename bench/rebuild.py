"""bench/rebuild: `gatherer rebuild` of a recorded day on one process and on one per core.

Frames come from the simulator's market model (bench/store's stock-heavy mix), journaled by two
workers as a run with two worker processes would; the day is then rebuilt twice from the same
journal, once with ``processes=1`` and once with one process per worker, and the wall-clock
rates are compared in the same run. Run: `make bench` or `python -m bench.rebuild [--frames N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import record
from bench.store import make_frames
from gatherer.capture import Journal, Kind
from gatherer.clock import ManualClock, trading_day_of
from gatherer.run.pipeline import rebuild_day

WORKERS = ("w00", "w01")


async def journal_two_workers(root: Path, frames: list[tuple[int, bytes]]) -> None:
    """Every other frame to each worker, as two worker processes would journal them."""
    for k, worker in enumerate(WORKERS):
        journal = await Journal.open(root, worker, clock=ManualClock(frames[0][0]))
        for i, (recv_ns, payload) in enumerate(frames[k :: len(WORKERS)]):
            journal.append(Kind.FRAME, f"{worker}-c000", payload, recv_ns)
            if i % 50_000 == 0:
                await journal.flush()
        await journal.close()


def main(n: int) -> None:
    frames = make_frames(n)
    day = trading_day_of(frames[0][0])
    base = Path(tempfile.mkdtemp(prefix="gatherer-bench-rebuild-"))
    asyncio.run(journal_two_workers(base / "one", frames))
    del frames  # the rebuilds read the journal; a million live objects here would only slow their GC
    gc.collect()
    shutil.copytree(base / "one", base / "many")
    runs = {}
    for name, processes in (("one", 1), ("many", os.cpu_count() or 1)):
        t0 = time.perf_counter()
        report = rebuild_day(base / name, day, version="bench", cutoffs=None, processes=processes)
        runs[name] = (report, time.perf_counter() - t0)
        assert report.rows == n, report
    t_one, (many, t_many) = runs["one"][1], runs["many"]
    speedup = t_one / t_many
    print(
        f"rebuild of {n:,} frames in {len(WORKERS)} worker journals: {speedup:.2f}x with {many.processes}"
        f" processes ({n / t_many:,.0f} frames/s) against 1 ({n / t_one:,.0f} frames/s)"
    )
    shutil.rmtree(base, ignore_errors=True)
    record(
        "rebuild (bench/rebuild.py)",
        f"""Command: `python -m bench.rebuild --frames {n}` (`make bench`). {n:,} frames of bench/store's mix,
journaled by {len(WORKERS)} workers, rebuilt from the same journal with one process and with one per
worker (up to one per core), wall clock, in one run. Target: ≥ 1.6× on two cores.

| figure | value |
|---|---|
| **speed-up, {many.processes} processes against 1** | **{speedup:.2f}×** |
| one process | {n / t_one:,.0f} frames/s ({t_one:.1f} s) |
| {many.processes} processes | {n / t_many:,.0f} frames/s ({t_many:.1f} s) |
""",
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=500_000)
    main(ap.parse_args().frames)
