"""bench/live_store: the live decode-and-store process under an open burst, and over a long soak.

A writer in this process journals pre-encoded frames of the simulator's market model (the mix of
bench/store) as a worker would, at a set rate in real time: ``--burst-s`` seconds at
``--burst-fps`` (the open), then ``--after-s`` seconds at ``--steady-fps``. The store is the
product's own child process (``gatherer _store``, started as ``gatherer run`` starts it), following
the journal. Once a second this prints, and keeps for RESULTS.md:

- the store's lag behind the journal: how long ago the journal had the bytes the store has now
  read (its read position in its open segment, from /proc/PID/fdinfo, against the segment sizes
  the writer saw each second), so reading-ahead is never counted as done work it has not done;
- the store's RSS (and the writer's), from /proc.

`--soak` runs the steady rate only, for ``--after-s`` seconds (3,600 in `make bench`), and prints
the RSS per process over time and a verdict line: the store's peak against the 250 MB target, and
its drift (median RSS of the last checkpoint cycle against the first; ``--checkpoint-s`` sets the
store's interval, 300 s as in the product by default).

Run: `python -m bench.live_store` (burst), `python -m bench.live_store --soak --after-s 3600`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import cpu_s, record, rss_mb
from bench.store import make_frames
from gatherer.capture import Journal, Kind
from gatherer.run.store_process import finish_store, start_store

POOL = 100_000
"""Distinct frames generated; the writer cycles through them (their bytes are all the store sees)."""
TICK_S = 0.01


@dataclass
class Sample:
    t: float
    """Seconds since the writer started."""
    written: int
    lag_s: float | None
    store_mb: float
    writer_mb: float
    store_cpu_s: float


@dataclass
class Trace:
    """Segment sizes the writer saw over time: when did the journal reach a given byte?"""

    sizes: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def note(self, t: float, journal_dir: Path) -> None:
        self.sizes.append((t, {p.name: p.stat().st_size for p in journal_dir.rglob("*.journal")}))

    def reached(self, segment: str, pos: int) -> float | None:
        for t, sizes in self.sizes:
            if sizes.get(segment, -1) >= pos:
                return t
        return None


def store_position(pid: int) -> tuple[str, int] | None:
    """The journal segment the store has open and its read offset in it."""
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.endswith(".journal"):
                for line in (Path(f"/proc/{pid}/fdinfo") / fd.name).read_text().splitlines():
                    if line.startswith("pos:"):
                        return Path(target).name, int(line.split()[1])
    except OSError:
        return None
    return None


def lag_of(pid: int, trace: Trace, now: float, last: float | None) -> float | None:
    pos = store_position(pid)
    if pos is None:
        return last  # between two segments (or not started yet): as it was a moment ago
    seg, off = pos
    t = trace.reached(seg, off)
    return None if t is None else max(0.0, now - t)


async def run(args: argparse.Namespace) -> list[Sample]:
    """Journal and store in a temporary root, removed afterwards (a one-hour soak leaves gigabytes)."""
    frames = [p for _, p in make_frames(POOL)]
    root = Path(tempfile.mkdtemp(prefix="gatherer-bench-live-"))
    try:
        return await _drive(args, frames, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _drive(args: argparse.Namespace, frames: list[bytes], root: Path) -> list[Sample]:
    journal = await Journal.open(root, "w00")
    cutoffs = {m: dt.time(7, 30) for m in ("kospi", "kosdaq", "kfutures", "koptions", "ofutures", "ooptions")}
    child = await start_store(root, "w00", "bench", cutoffs, flush_s=args.checkpoint_s)
    phases = [] if args.soak else [(args.burst_s, args.burst_fps)]
    phases.append((args.after_s, args.steady_fps))
    trace, samples = Trace(), []
    t0 = time.monotonic()
    written, i, next_sample, phase_end = 0, 0, 0.0, 0.0
    last_lag: float | None = None
    for seconds, fps in phases:
        phase_start, phase_end = phase_end, phase_end + seconds
        due_at_start = written
        while (now := time.monotonic() - t0) < phase_end:
            due = due_at_start + int((now - phase_start) * fps)
            while written < due:
                journal.append(Kind.FRAME, "w00-c000", frames[i], time.time_ns())
                i = (i + 1) % POOL
                written += 1
            if now >= next_sample:
                trace.note(now, root / "journal")
                last_lag = lag_of(child.pid, trace, now, last_lag)
                s = Sample(now, written, last_lag, rss_mb(child.pid), rss_mb(), cpu_s(child.pid))
                samples.append(s)
                next_sample += 1.0
                if args.verbose or int(now) % 10 == 0:
                    lag = "?" if s.lag_s is None else f"{s.lag_s:5.1f} s"
                    print(
                        f"t={now:6.1f} s  journaled {written:>10,}  store lag {lag}"
                        f"  store RSS {s.store_mb:6.1f} MB  writer RSS {s.writer_mb:6.1f} MB",
                        flush=True,
                    )
            await asyncio.sleep(TICK_S)
    await journal.close()
    figures = await finish_store(child)
    print(f"store: {figures}")
    return samples


def report_burst(args: argparse.Namespace, samples: list[Sample]) -> None:
    burst_end = args.burst_s
    after = [s for s in samples if s.t >= burst_end]
    recovered = next((s.t - burst_end for s in after if s.lag_s is not None and s.lag_s < 5.0), None)
    peak_lag = max((s.lag_s or 0.0) for s in samples)
    peak_mb = max(s.store_mb for s in samples)
    in_burst = [s for s in samples if s.t < burst_end]
    achieved = in_burst[-1].written / in_burst[-1].t if in_burst else 0.0
    verdict = "met" if recovered is not None and recovered <= 60 else "NOT met"
    rec = "never" if recovered is None else f"{recovered:.0f} s"
    us_per_frame = samples[-1].store_cpu_s / max(1, samples[-1].written) * 1e6
    print(
        f"burst {args.burst_s:.0f} s at {args.burst_fps:,.0f} frames/s (journaled {achieved:,.0f}/s):"
        f" peak store lag {peak_lag:.1f} s, lag < 5 s again {rec} after the burst ({verdict});"
        f" store RSS peak {peak_mb:.0f} MB; store CPU {us_per_frame:.1f} µs/frame;"
        f" load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    curve = "\n".join(
        f"| {s.t:.0f} | {s.written:,} | {'?' if s.lag_s is None else f'{s.lag_s:.1f}'} | {s.store_mb:.0f} |"
        for s in samples
        if int(s.t) % 5 == 0
    )
    record(
        "live store under an open burst (bench/live_store.py)",
        f"""Command: `python -m bench.live_store --burst-s {args.burst_s:.0f} --burst-fps {args.burst_fps:.0f}
--after-s {args.after_s:.0f} --steady-fps {args.steady_fps:.0f}`. The product's store child
(`gatherer _store`) follows a journal written here in real time: the burst, then the steady rate.
Lag = how long ago the journal held the bytes the store has read. Target: lag below 5 s within 60 s
after a 60 s burst of 50,000 frames/s, memory bounded.

| figure | value |
|---|---|
| lag < 5 s again after the burst | **{rec}** ({verdict}) |
| journaled during the burst | {achieved:,.0f} frames/s (asked {args.burst_fps:,.0f}) |
| peak lag | {peak_lag:.1f} s |
| store RSS peak | {peak_mb:.0f} MB |
| store CPU per frame journaled | {us_per_frame:.1f} µs |

Lag curve (every 5 s):

| t (s) | journaled | lag (s) | store RSS (MB) |
|---|---|---|---|
{curve}
""",
    )


TARGET_MB = 250.0
"""Issue 16: each store ≤ 250 MB steady at 5,000 frames/s with the default checkpoint interval."""
DRIFT_MB = 10.0
"""Flat: the last checkpoint cycle's median RSS at most this much above the first's (sawtooth aside)."""


def drift_of(samples: list[Sample], cycle_s: float) -> tuple[float, float, str]:
    """(first, last, what): median store RSS of the first and the last full checkpoint cycle (the
    sawtooth's period), each leaving out its first minute (the first cycle's holds the start's
    catch-up), or of the first and last quarter when the run holds fewer than two cycles."""
    end = samples[-1].t
    skip = min(60.0, cycle_s / 5)
    cycles = [cycle_s * k for k in range(int(end // cycle_s)) if cycle_s * (k + 1) <= end]
    if len(cycles) >= 2:
        a, b = cycles[0], cycles[-1]
        first = [s.store_mb for s in samples if a + skip <= s.t < a + cycle_s]
        last = [s.store_mb for s in samples if b + skip <= s.t < b + cycle_s]
        what = f"checkpoint cycles {a + skip:.0f}-{a + cycle_s:.0f} s and {b + skip:.0f}-{b + cycle_s:.0f} s"
    else:
        q = max(1, len(samples) // 4)
        first, last = [s.store_mb for s in samples[:q]], [s.store_mb for s in samples[-q:]]
        what = "first and last quarter: fewer than two full checkpoint cycles"
    return statistics.median(first), statistics.median(last), what


def slope_mb_per_h(samples: list[Sample], after_s: float) -> float:
    """Least-squares slope of the store's RSS over time after ``after_s``, in MB per hour."""
    pts = [(s.t, s.store_mb) for s in samples if s.t >= after_s]
    if len(pts) < 2:
        return 0.0
    return statistics.linear_regression([t for t, _ in pts], [m for _, m in pts]).slope * 3600


def report_soak(args: argparse.Namespace, samples: list[Sample]) -> None:
    cycle = args.checkpoint_s
    d1, d4, what = drift_of(samples, cycle)
    steady = [s for s in samples if s.t >= min(60.0, samples[-1].t / 2)]  # after the start's catch-up
    peak = max(s.store_mb for s in steady)
    p95 = statistics.quantiles([s.store_mb for s in steady], n=20)[-1] if len(steady) > 1 else peak
    slope = slope_mb_per_h(samples, cycle)
    w1, w4 = statistics.median(s.writer_mb for s in samples[: len(samples) // 4 or 1]), samples[-1].writer_mb
    cpu = samples[-1].store_cpu_s / max(1e-9, samples[-1].t)
    rate = samples[-1].written / samples[-1].t
    mem_ok = "met" if peak <= TARGET_MB else "NOT met"
    judged = "checkpoint cycles" in what  # quarters include the start: no verdict on drift
    drift_ok = ("flat" if d4 - d1 <= DRIFT_MB else "DRIFTING") if judged else "not judged (run 3+ cycles)"
    print(
        f"soak {samples[-1].t:.0f} s at {rate:,.0f} frames/s, checkpoint every {cycle:.0f} s:"
        f" store RSS peak {peak:.0f} MB (p95 {p95:.0f}) after the first minute;"
        f" median {d1:.0f} -> {d4:.0f} MB ({what}), fitted {slope:+.1f} MB/h;"
        f" writer {w1:.0f} -> {w4:.0f} MB; store CPU {cpu:.0%} of a core"
    )
    print(
        f"verdict: store memory ≤ {TARGET_MB:.0f} MB steady: {mem_ok} (peak {peak:.0f} MB);"
        f" drift: {drift_ok} ({d4 - d1:+.0f} MB, limit +{DRIFT_MB:.0f} MB)",
        flush=True,
    )
    step = max(1, len(samples) // 24)
    curve = "\n".join(f"| {s.t:.0f} | {s.store_mb:.0f} | {s.writer_mb:.0f} |" for s in samples[::step])
    record(
        "live store soak (bench/live_store.py --soak)",
        f"""Command: `python -m bench.live_store --soak --after-s {args.after_s:.0f}
--steady-fps {args.steady_fps:.0f} --checkpoint-s {cycle:.0f}`. The product's store child follows a
journal written here at a steady rate. Targets (issue 16): store ≤ {TARGET_MB:.0f} MB steady at 5,000
frames/s with the default checkpoint interval (300 s), no upward drift (median RSS of the last
checkpoint cycle at most {DRIFT_MB:.0f} MB above the first's, each without its first minute). Peak
and p95 leave out the run's first minute (the store starts behind and catches up).

| figure | value |
|---|---|
| store RSS peak / target | **{peak / TARGET_MB:.2f}** ({peak:.0f} / {TARGET_MB:.0f} MB: {mem_ok}) |
| store RSS, last / first (median) | **{d4 / d1:.2f}** ({d4:.0f} / {d1:.0f} MB: {drift_ok}; {what}) |
| store RSS p95 | {p95:.0f} MB |
| fitted slope after the first cycle | {slope:+.1f} MB/h |
| writer RSS, last / first quarter | {w4 / w1:.2f} ({w4:.0f} / {w1:.0f} MB) |
| rate journaled | {rate:,.0f} frames/s |
| store CPU | {cpu:.0%} of one core |

| t (s) | store RSS (MB) | writer RSS (MB) |
|---|---|---|
{curve}
""",
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--soak", action="store_true", help="steady rate only, report RSS drift")
    ap.add_argument("--burst-s", type=float, default=60.0)
    ap.add_argument("--burst-fps", type=float, default=50_000.0)
    ap.add_argument("--after-s", type=float, default=90.0)
    ap.add_argument("--steady-fps", type=float, default=5_000.0)
    ap.add_argument(
        "--checkpoint-s",
        type=float,
        default=300.0,
        help="the store's checkpoint interval (the product's: 300)",
    )
    ap.add_argument("--verbose", action="store_true", help="print every second, not every ten")
    args = ap.parse_args(argv)
    samples = asyncio.run(run(args))
    if not samples:
        sys.exit("no samples taken")
    (report_soak if args.soak else report_burst)(args, samples)


if __name__ == "__main__":
    main()
