"""bench/sim: the simulator's market model, µs per frame it produces.

``MarketModel.events`` is what the simulator calls for every event it streams, so its cost per
frame bounds the rate one simulator process can send. Two figures, each market asking for its
default TRs (``MARKET_CHANNELS``), at 10:00 Seoul on a trading day, after a warm-up:
- all markets at once: two instruments of each market from the simulator's universe, one event
  per instrument per round, 10 ms of market time apart;
- each market on its own: one instrument, best of three runs.
Run: `make bench` or `python -m bench.sim [--rounds 5000] [--events 20000]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time

from bench.common import record
from gatherer.clock import seoul_ns
from gatherer.sim.market import MarketModel
from gatherer.sim.universe import Instrument, build_universe
from gatherer.venues.ls.catalog import MARKET_CHANNELS

DAY = dt.date(2026, 5, 15)
STEP_NS = 10_000_000


def wants(market: str) -> set[str]:
    return set(MARKET_CHANNELS[market].values())


def warm_up(instruments: list[Instrument]) -> None:
    """The model's first event in a process pays one-time costs (about 2 s); none of it is timed."""
    model = MarketModel(instruments, random.Random(0))
    now = seoul_ns(DAY, dt.time(10))
    for inst in instruments:
        model.events(inst.market, inst.symbol, now, wants(inst.market))


def all_markets(instruments: list[Instrument], rounds: int) -> tuple[float, int]:
    """Seconds per frame, and frames, with every instrument producing one event per round."""
    model = MarketModel(instruments, random.Random(37))
    now = seoul_ns(DAY, dt.time(10))
    frames = 0
    t0 = time.perf_counter()
    for k in range(rounds):
        for inst in instruments:
            frames += len(model.events(inst.market, inst.symbol, now + k * STEP_NS, wants(inst.market)))
    return (time.perf_counter() - t0) / frames, frames


def one_market(inst: Instrument, events: int) -> tuple[float, float]:
    """Best seconds per frame of three runs, and frames per event."""
    want = wants(inst.market)
    best, frames = float("inf"), 0
    for _ in range(3):
        model, frames = MarketModel([inst], random.Random(53)), 0
        now = seoul_ns(DAY, dt.time(10))
        t0 = time.perf_counter()
        for k in range(events):
            frames += len(model.events(inst.market, inst.symbol, now + k * STEP_NS, want))
        best = min(best, time.perf_counter() - t0)
    return best / frames, frames / events


def main(rounds: int, events: int) -> None:
    universe = build_universe(0, as_of=DAY)
    picks = {m: universe.instruments[m][:2] for m in MARKET_CHANNELS}
    instruments = [i for insts in picks.values() for i in insts]
    warm_up(instruments)
    per_frame, frames = all_markets(instruments, rounds)
    print(f"MarketModel.events: {per_frame * 1e6:.2f} us/frame over {frames:,} frames")
    rows = [("all six markets, two instruments each", f"{per_frame * 1e6:.2f}", f"{frames:,}", "")]
    for market, insts in picks.items():
        inst = insts[0]
        per_frame, per_event = one_market(inst, events)
        print(f"{market}/{inst.symbol}: {per_frame * 1e6:.2f} us/frame ({per_event:.2f} frames/event)")
        rows.append((f"{market} alone ({inst.symbol})", f"{per_frame * 1e6:.2f}", "", f"{per_event:.2f}"))
    table = "\n".join(
        ["| run | µs/frame | frames | frames/event |", "|---|---|---|---|"]
        + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    )
    record(
        "sim market model (bench/sim.py)",
        f"""Command: `python -m bench.sim --rounds {rounds} --events {events}` (`make bench`). The simulator's
`MarketModel.events` in this process at 10:00 Seoul, each market asking for its default TRs: first
two instruments of every market together ({rounds:,} rounds, one event each), then one instrument
of each market on its own ({events:,} events, best of three). Wall time per produced frame, one
process: it bounds what one simulator process can stream.

{table}
""",
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5_000)
    ap.add_argument("--events", type=int, default=20_000)
    a = ap.parse_args()
    main(a.rounds, a.events)
