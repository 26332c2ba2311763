"""Trades the venue deliberately did not send are found by the cumulative-volume chain in the store
and filled over REST by the backfiller, for every family: KRX stocks (t1301), KOSPI200 futures
(t2212), overseas futures (o3116) and overseas options (o3136)."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from gatherer.clock import trading_day_of
from gatherer.config import MarketConfig
from gatherer.ledger import read_backfill, read_gaps, write_ledger
from gatherer.ledger.backfill import Backfiller
from gatherer.ops.query import run_query
from gatherer.run.prepare import rest_client
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings

from ..conftest import sim_settings
from ..helpers.collect import RunResult, collect
from ..helpers.sim import CREDENTIALS, sim_config
from ..helpers.waiting import wait_until

TRADES = {"kospi": "S3_", "kfutures": "FC9", "ofutures": "OVC", "ooptions": "WOC"}
REST = {"S3_": "t1301", "FC9": "t2212", "OVC": "o3116", "WOC": "o3136"}


async def test_skipped_trades_become_gaps_and_backfill_fills_each_exactly(tmp_path: Path) -> None:
    settings = sim_settings(stream=StreamSettings(rate_fps=3000.0), limits=VenueLimits(rest_rate_scale=20))
    sent: Counter[str] = Counter()  # trade frames sent, per TR

    def count(_conn: str, frame: bytes) -> None:
        for tr_cd in TRADES.values():
            if frame.startswith(b'{"header":{"tr_cd":"' + tr_cd.encode()):
                sent[tr_cd] += 1

    async with Simulator(settings, on_sent=count) as sim:
        markets = {m: MarketConfig(max_symbols=1, channels=["trade"]) for m in TRADES}
        cfg = sim_config(sim, tmp_path, markets)
        stop = asyncio.Event()
        started: list[RunResult] = []
        task = asyncio.create_task(collect(cfg, CREDENTIALS, stop, on_start=started.append, clock=sim.clock))
        await wait_until(lambda: bool(started))
        await wait_until(lambda: sum(c.accepted for c in started[0].connections) == len(TRADES))
        # A print of every feed first: a chain starts at the first print it sees.
        await wait_until(lambda: all(sent[t] > 0 for t in TRADES.values()), 60)
        for tr_cd in TRADES.values():
            sim.inject("skip", count=3, tr_cd=tr_cd)
        await wait_until(lambda: len(sim.hub.skipped) == 3 * len(TRADES), 60)
        # One more print of every feed: a hole shows only once a print after it arrives.
        seen = Counter(sent)
        await wait_until(lambda: all(sent[t] > seen[t] for t in TRADES.values()), 60)
        # ... and received: everything sent so far has reached the collector.
        total = sim.hub.frames_sent_total + sim.hub.acks_total
        await wait_until(lambda: sum(c.frames for c in started[0].connections) >= total)
        stop.set()
        await task
        day = trading_day_of(sim.clock.time_ns())
        gaps = read_gaps(tmp_path, day)
        skipped: dict[str, list[int]] = defaultdict(list)
        for tr_cd, _key, volume in sim.hub.skipped:
            skipped[tr_cd].append(volume)
        assert sorted(g.tr_cd for g in gaps) == sorted(TRADES.values())
        for gap in gaps:
            # One hole per feed, exactly around the three prints the venue kept back.
            assert gap.volume_before < min(skipped[gap.tr_cd])
            assert max(skipped[gap.tr_cd]) == gap.volume_after - gap.size_after and gap.missing > 0
        async with rest_client(cfg, CREDENTIALS, sim.clock) as client:
            stats = await Backfiller(tmp_path, client, sim.clock).run_pass(day)
            again = await Backfiller(tmp_path, client, sim.clock).run_pass(day)
    assert stats.by_status == {"filled": len(TRADES)} and stats.deferred == 0
    assert again.tried == 0  # done gaps are not fetched twice
    results = read_backfill(tmp_path, day)
    for gap in gaps:
        result = results[gap.id]
        assert result["rest_tr"] == REST[gap.tr_cd] and result["filled"] == gap.missing
        rows = pq.read_table(
            tmp_path / "backfill" / f"date={day}" / f"market={gap.market}" / "channel=trade" / "source=rest"
            / f"{gap.id}.parquet"
        ).to_pylist()  # fmt: skip
        assert sorted(r["volume"] for r in rows) == sorted(skipped[gap.tr_cd])
        assert all(r["chained"] and r["symbol"] == gap.symbol for r in rows)
    ledger = write_ledger(tmp_path, day)
    volume_gaps = [g for g in ledger.gaps if g.kind == "volume"]
    assert {g.status for g in volume_gaps} == {"filled"} and len(volume_gaps) == len(TRADES)
    # The same through SQL: the ledger's gaps and the backfilled trades are views.
    by_sql = run_query(
        tmp_path,
        "select g.tr_cd, g.missing, sum(r.cvolume) as fetched from gaps g"
        " join trade_rest r on r.gap_id = g.id where g.status = 'filled' group by all order by 1",
    ).to_pylist()
    assert [(r["tr_cd"], r["fetched"]) for r in by_sql] == sorted((g.tr_cd, g.missing) for g in gaps)
