"""`gatherer report`: coverage, gaps and storage of a day, from the day's files."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gatherer.capture import Kind, iter_records
from gatherer.config import MarketConfig
from gatherer.ledger import write_ledger
from gatherer.ops.report import build_report, render
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings

from ..conftest import sim_settings
from ..helpers.collect import RunResult, collect
from ..helpers.sim import CREDENTIALS, sim_config
from ..helpers.waiting import wait_until


async def test_the_report_shows_coverage_an_outage_and_what_was_stored(tmp_path: Path) -> None:
    settings = sim_settings(stream=StreamSettings(rate_fps=3000.0), limits=VenueLimits(rest_rate_scale=20))
    async with Simulator(settings) as sim:
        cfg = sim_config(sim, tmp_path, {"kosdaq": MarketConfig(max_symbols=5)}, connections_per_key=1)
        stop = asyncio.Event()
        started: list[RunResult] = []
        task = asyncio.create_task(collect(cfg, CREDENTIALS, stop, on_start=started.append, clock=sim.clock))
        await wait_until(lambda: bool(started))
        (conn,) = started[0].connections
        await wait_until(lambda: conn.accepted == 15 and conn.frames > 500)
        sim.inject("drop")
        await wait_until(lambda: conn.reconnects == 1 and sim.hub.registrations_total() == 15)
        n = conn.frames
        await wait_until(lambda: conn.frames > n + 300)
        stop.set()
        await task
    (day_dir,) = (tmp_path / "journal").iterdir()
    day = dt.date.fromisoformat(day_dir.name[5:])
    report = build_report(tmp_path, day)
    data = [r for r in iter_records(day_dir) if r.kind == Kind.FRAME and b'"rsp_cd"' not in r.payload]
    assert sum(report.frames.values()) == len(data)
    assert len(report.registered) == 15
    assert report.silent == sorted(report.registered - set(report.frames))
    assert sum(report.parquet_rows.values()) == len(data)
    (outage,) = report.outages
    assert outage.end_ns is not None and outage.end_ns > outage.start_ns and outage.registrations == 15
    assert len(outage.dark_s) == 15 and outage.not_back == 0  # every stream acknowledged again
    assert all(0 < d < 30 for d in outage.dark_s)
    text = render(report)
    assert "gaps (connections down): 1" in text and f"{len(data):,} data frames" in text
    dark = sorted(outage.dark_s)
    assert f"streams dark {dark[7]:.1f} s (median) to {dark[-1]:.1f} s until re-acknowledged" in text

    # The same day as data: one coverage row per (TR, key), one outage row per TR the connection held.
    write_ledger(tmp_path, day)
    coverage = pq.read_table(tmp_path / "ledger" / f"date={day}" / "coverage.parquet").to_pylist()
    assert len(coverage) == 15
    for row in coverage:
        assert row["subscriptions"] == 2 and row["drops"] == 1 and row["acked"] is not None
        assert row["frames"] == report.frames.get((row["tr_cd"], row["tr_key"]), 0)
    gaps = pq.read_table(tmp_path / "ledger" / f"date={day}" / "gaps.parquet").to_pylist()
    outages = [g for g in gaps if g["kind"] == "outage"]
    assert sorted(g["tr_cd"] for g in outages) == ["HA_", "K3_", "OK_"]
    for g in outages:
        assert g["market"] == "kosdaq" and len(g["symbols"]) == 5 and g["end"] > g["start"]
        assert g["cause"] == outage.cause
    # Each stream's dark time through the outage: from the disconnect to its re-acknowledgement.
    dark = pq.read_table(tmp_path / "ledger" / f"date={day}" / "dark.parquet").to_pylist()
    assert sorted((d["tr_cd"], d["tr_key"]) for d in dark) == sorted(report.registered)
    by_id = {g["id"]: g for g in outages}
    for d in dark:
        g = by_id[d["gap_id"]]
        assert d["start"] == g["start"] and d["reconnected"] == g["end"] < d["acked"]
        # dark_s is the nanosecond count over 1e9; total_seconds() rounds differently in the last bit.
        assert d["dark_s"] == pytest.approx((d["acked"] - d["start"]).total_seconds(), abs=1e-9)
        assert d["first_frame"] is None or d["first_frame"] > d["acked"]
