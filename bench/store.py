"""bench/store: decode + Parquet, frames/s per core, and bytes on disk against the original tool's CSV.

Frames come from the simulator's market model (every TR of the six markets' book, trade and
broker channels, in the proportions of a stock-heavy day), are journaled as a worker would,
then the store (decode + Parquet + quarantine + checkpoints) runs over the journal in this
process; CPU time is measured with ``time.process_time`` (one core), and set against a bare
msgspec decode of the same payloads in the same run. The same frames are also
written the way the original gatherer did: one CSV line per frame (key, ``time.time()``, the
§6.3 fields), to compare bytes. Run: `make bench` or `python -m bench.store [--frames 300000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import random
import shutil
import tempfile
import time
from pathlib import Path

import msgspec

from bench.common import record
from gatherer.capture import Journal, Kind
from gatherer.clock import SEOUL, ManualClock, trading_day_of
from gatherer.decode import Batch
from gatherer.ledger import VolumeGap, build_ledger
from gatherer.ops.query import csv_columns
from gatherer.run.store import JournalTail, Store, follow
from gatherer.sim.market import MarketModel
from gatherer.sim.universe import build_universe
from gatherer.venues.ls.catalog import CATALOG, MARKET_CHANNELS
from gatherer.venues.ls.keys import format_tr_key

_encode = msgspec.json.Encoder().encode
# Shares of frames per market on a stock-heavy day (rough, for the mix only).
MIX = {"kospi": 0.35, "kosdaq": 0.3, "kfutures": 0.05, "koptions": 0.15, "ofutures": 0.1, "ooptions": 0.05}


def make_frames(n: int, seed: int = 0) -> list[tuple[int, bytes]]:
    start = dt.datetime(2026, 11, 25, 10, 0, tzinfo=SEOUL)
    universe = build_universe(seed, as_of=start.date())
    rng = random.Random(seed)
    model = MarketModel((i for insts in universe.instruments.values() for i in insts), rng)
    now = int(start.timestamp() * 1e9)
    picks = {m: [i.symbol for i in universe.instruments[m][:200]] for m in MIX}
    out: list[tuple[int, bytes]] = []
    markets, weights = list(MIX), list(MIX.values())
    while len(out) < n:
        market = rng.choices(markets, weights)[0]
        symbol = rng.choice(picks[market])
        now += 20_000
        want = set(MARKET_CHANNELS[market].values())
        for tr_cd, body in model.events(market, symbol, now, want):
            header = {"tr_cd": tr_cd, "tr_key": format_tr_key(tr_cd, symbol)}
            out.append((now, _encode({"header": header, "body": body})))
    return out[:n]


def csv_bytes(frames: list[tuple[int, bytes]]) -> int:
    """The original tool's format: per frame one CSV row, key, time.time(), fields (cp949)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for recv_ns, payload in frames:
        frame = msgspec.json.decode(payload)
        tr_cd = frame["header"]["tr_cd"]
        cols = csv_columns(tr_cd)
        body = frame["body"]
        key = CATALOG[tr_cd].key_field
        writer.writerow([body.get(key, ""), recv_ns / 1e9, *(body.get(c, "") for c in cols[2:])])
    return len(buf.getvalue().encode("cp949", errors="replace"))


async def journal_frames(root: Path, frames: list[tuple[int, bytes]]) -> None:
    journal = await Journal.open(root, "w00", clock=ManualClock(frames[0][0]))
    for i, (recv_ns, payload) in enumerate(frames):
        journal.append(Kind.FRAME, "w00-c000", payload, recv_ns)
        if i % 50_000 == 0:
            await journal.flush()
    await journal.close()


def bare_rates(frames: list[tuple[int, bytes]]) -> tuple[float, float]:
    """Frames/s per core of a bare msgspec decode of the same payloads to dicts: the decoded frames
    kept in a list (as the store keeps a batch's values; the reference of the ≥ 40% target), and
    each dropped at once (no garbage-collector work: an upper bound no decoder that keeps rows sees)."""
    decode = msgspec.json.Decoder().decode
    payloads = [p for _, p in frames]
    cpu0 = time.process_time()
    kept = [decode(p) for p in payloads]
    cpu1 = time.process_time()
    del kept
    cpu2 = time.process_time()
    for p in payloads:
        decode(p)
    cpu3 = time.process_time()
    return len(payloads) / (cpu1 - cpu0), len(payloads) / (cpu3 - cpu2)


def main(n: int) -> None:
    t = time.perf_counter()
    frames = make_frames(n)
    print(f"{n:,} frames generated in {time.perf_counter() - t:.1f} s")
    bare, bare_dropped = bare_rates(frames)
    root = Path(tempfile.mkdtemp(prefix="gatherer-bench-store-"))
    try:
        _measure(n, frames, bare, bare_dropped, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)  # 40 MB of journal and Parquet a run


def _measure(n: int, frames: list[tuple[int, bytes]], bare: float, bare_dropped: float, root: Path) -> None:
    asyncio.run(journal_frames(root, frames))
    store, first = Store.resume(root, "w00", version="bench", venue="bench")
    tail = JournalTail(root, "w00", start_seq=first)
    # The cumulative-volume chains run inside the store: time their share of its CPU in the same run.
    feed = store.chains.feed
    chain_cpu = [0.0]

    def timed_feed(batch: Batch) -> list[VolumeGap]:
        c0 = time.process_time()
        try:
            gaps: list[VolumeGap] = feed(batch)
            return gaps
        finally:
            chain_cpu[0] += time.process_time() - c0

    setattr(store.chains, "feed", timed_feed)  # noqa: B010 - timing wrapper for this run only
    cpu0, t0 = time.process_time(), time.perf_counter()
    follow(tail, store, stop_requested=iter(lambda: True, False))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    chains = store.chains.stats
    share, per_print = chain_cpu[0] / cpu, chain_cpu[0] * 1e6 / max(1, chains.prints)
    assert store.stats.rows == n, store.stats
    # The day's ledger reads the whole journal again (once a day, in the supervisor, in a thread).
    cpu1 = time.process_time()
    ledger = build_ledger(root, trading_day_of(frames[0][0]))
    ledger_rate = n / (time.process_time() - cpu1)
    assert sum(c.frames for c in ledger.coverage.values()) == n
    parquet = sum(p.stat().st_size for p in (root / "parquet").rglob("*.parquet"))
    raw = sum(len(p) for _, p in frames)
    csv_size = csv_bytes(frames)
    rate = n / cpu
    print(
        f"store = {rate / bare:.0%} of bare msgspec ({rate:,.0f} vs {bare:,.0f} frames/s per core;"
        f" {rate / bare_dropped:.0%} of {bare_dropped:,.0f}/s with each decoded frame dropped at once)"
    )
    print(
        f"decode + Parquet: {rate:,.0f} frames/s per core ({cpu:.1f} CPU s, {wall:.1f} s wall for {n:,});"
        f" Parquet {parquet / n:.0f} B/frame, original CSV {csv_size / n:.0f} B/frame"
        f" ({parquet / csv_size:.0%} of CSV), raw JSON {raw / n:.0f} B/frame;"
        f" volume chains {chain_cpu[0] / cpu:.1%} of the CPU over {chains.prints:,} prints;"
        f" the day's ledger {ledger_rate:,.0f} frames/s per core"
    )
    record(
        "store (bench/store.py)",
        f"""Command: `python -m bench.store --frames {n}` (`make bench`). {n:,} frames from the simulator's
market model (book, trade and broker TRs of all six markets, stock-heavy mix), journaled, then
decoded and written to Parquet by the store in this process; CPU time of this process.
Targets: ≥ 30,000 frames/s per core and ≥ 40% of a bare msgspec decode of the same frames (measured
in the same run, so the machine's load cancels out); Parquet ≤ 25% of the original tool's CSV bytes.

| figure | value |
|---|---|
| store = {rate / bare:.0%} of bare msgspec | {bare:,.0f} frames/s per core (decoded frames kept) |
| store / bare msgspec, frames dropped at once | {rate / bare_dropped:.0%} ({bare_dropped:,.0f} frames/s) |
| decode + Parquet (+ quarantine, volume chains, checkpoints) | {rate:,.0f} frames/s per core |
| of which the volume chains (gap detection) | {share:.1%} of the CPU ({per_print:.2f} µs per print) |
| the day's ledger (coverage + gaps, from the journal) | {ledger_rate:,.0f} frames/s per core |
| Parquet on disk | {parquet / n:.0f} B/frame ({parquet / 1e6:.1f} MB) |
| the original tool's CSV (one line per frame, cp949) | {csv_size / n:.0f} B/frame ({csv_size / 1e6:.1f} MB) |
| Parquet / CSV | {parquet / csv_size:.0%} |
| raw JSON frames, for reference | {raw / n:.0f} B/frame |
""",
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300_000)
    main(ap.parse_args().frames)
