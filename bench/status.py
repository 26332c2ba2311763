"""bench/status: what the status file costs a worker's event loop.

A worker writes its status file (``gatherer.run.status_files``) every ``STATUS_INTERVAL_S`` from its
event loop, between frames: it sums the per-stream frame counts into (market, channel), encodes
the JSON and renames it into place. This times that, for a worker holding ``--streams``
registrations on ``--connections`` connections (every stream having delivered frames), and prints
the time per write and its share of the event loop at the interval: the receive path is paused for
that long each time. Target: under 1 % of the loop, and under 10 ms a write (a fifth of the
journal's 50 ms commit interval), at the full universe's share of one worker (about 30,000).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import record
from gatherer.capture import Journal
from gatherer.clock import SystemClock
from gatherer.ops.snapshot import worker_status_path, write_status
from gatherer.plan.select import Registration
from gatherer.run.status_files import STATUS_INTERVAL_S, _stream_channels, worker_status
from gatherer.run.worker import Worker, WorkerSettings
from gatherer.venues.ls.envelope import stream_key


async def measure(streams: int, connections: int, writes: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        root = Path(tmp)
        journal = await Journal.open(root, "w00", clock=SystemClock())
        trs = [("kospi", "trade", "S3_"), ("kospi", "book", "H1_"), ("kosdaq", "trade", "K3_")]
        regs = [Registration(*trs[i % 3], f"{i:06d}") for i in range(streams)]
        per = -(-streams // connections)
        groups = [regs[i : i + per] for i in range(0, streams, per)]

        async def token(_key: int) -> str:
            return "bench"

        worker = Worker(
            ws_url="ws://127.0.0.1:1/websocket", token=token, journal=journal, groups=groups,
            clock=SystemClock(), settings=WorkerSettings(),
        )  # fmt: skip
        for i, r in enumerate(regs):
            worker.stream_frames[stream_key(r.tr_cd, r.tr_key)] = 1000 + i
        channels = _stream_channels(worker)
        path = worker_status_path(root, "w00")
        took = []
        for _ in range(writes):
            t0 = time.perf_counter()
            write_status(path, worker_status(worker, "w00", channels, None))
            took.append(time.perf_counter() - t0)
        await journal.close()
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=30_000)
    ap.add_argument("--connections", type=int, default=150)
    ap.add_argument("--writes", type=int, default=200)
    args = ap.parse_args()
    took = asyncio.run(measure(args.streams, args.connections, args.writes))
    p50, p99 = statistics.median(took) * 1e3, sorted(took)[int(len(took) * 0.99) - 1] * 1e3
    share = statistics.median(took) / STATUS_INTERVAL_S
    line = f"| {args.streams:,} | {args.connections} | {p50:.2f} | {p99:.2f} | {share:.2%} |"
    print(
        f"{args.streams:,} streams on {args.connections} connections: a status write takes"
        f" p50 {p50:.2f} ms, p99 {p99:.2f} ms; {share:.2%} of the event loop at one write"
        f" every {STATUS_INTERVAL_S:g} s"
    )
    record(
        "status file (bench/status.py)",
        f"Command: `python -m bench.status --streams {args.streams} --connections {args.connections}`."
        " One worker's status file written from its event loop (sum of per-stream frame counts into"
        " market and channel, JSON, rename), timed over"
        f" {args.writes} writes. Target: < 1 % of the loop and < 10 ms a write.\n\n"
        "| streams | connections | p50 ms | p99 ms | share of the loop |\n|---|---|---|---|---|\n" + line,
    )


if __name__ == "__main__":
    main()
