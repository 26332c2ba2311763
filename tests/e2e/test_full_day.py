"""A whole trading day without a human, compressed 600 times: from 06:50 (the previous trading day)
across the 07:30 cutoff, the KRX pre-open, the session and the close to 16:00, with the token
expiring and refreshed, a connection dropped every few seconds, one stalled connection, malformed
frames, one refused re-registration, trades deliberately not sent, and one worker killed.

What must hold at the end: the run stopped by itself; every frame the venue sent on a connection
is in the journal up to where that connection was cut (nothing lost while it was up); every frame
journaled is in Parquet or in quarantine once; every outage is a gap row of the day's ledger;
the ledger accounts for every planned (TR, symbol); the trades that were not sent are volume gaps,
backfilled over REST.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from gatherer.capture import Kind, iter_records
from gatherer.clock import SEOUL, ScaledClock, trading_day_of
from gatherer.config import BackfillConfig, Config, MarketConfig, StorageConfig, VenueConfig
from gatherer.ops.report import build_report, render
from gatherer.run.supervisor import Supervisor
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.keys import format_tr_key

from ..conftest import sim_settings
from ..helpers.waiting import wait_until

SPEED = 600.0
START = dt.datetime(2026, 11, 25, 6, 50, tzinfo=SEOUL)  # a Wednesday; KRX trades
END = dt.datetime(2026, 11, 25, 16, 0, tzinfo=SEOUL)
KEY = Credentials("day-key", "day-secret")


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp() * 1e9)


def _hms(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, SEOUL).strftime("%H:%M:%S")


def _ledger(root: Path, days: list[dt.date], name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for day in days:
        rows.extend(pq.read_table(root / "ledger" / f"date={day}" / f"{name}.parquet").to_pylist())
    return rows


def _quarantined(root: Path, day: dt.date) -> int:
    base = root / "quarantine" / f"date={day}"
    return sum(len(p.read_text().splitlines()) for p in base.glob("*.jsonl")) if base.is_dir() else 0


def _config(sim: Simulator, root: Path) -> Config:
    return Config(
        venue=VenueConfig(
            rest_url=sim.rest_url, ws_url=sim.ws_url, connections_per_key=6, registrations_per_connection=5,
            registrations_per_s=200, rest_rate_scale=50, stall_timeout_s=900,
        ),
        storage=StorageConfig(root=str(root), parquet_flush_s=5),
        backfill=BackfillConfig(interval_s=1.0),
        markets={
            "kospi": MarketConfig(max_symbols=2),
            "kfutures": MarketConfig(max_symbols=1),
            "ofutures": MarketConfig(max_symbols=2),
        },
    )  # fmt: skip


async def test_a_compressed_trading_day_with_faults_ends_with_every_frame_or_gap_accounted_for(
    tmp_path: Path,
) -> None:
    clock = ScaledClock(_ns(START), SPEED)
    sent: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    settings = sim_settings(
        start=None, stream=StreamSettings(rate_fps=1500.0), limits=VenueLimits(rest_rate_scale=50),
        token_ttl_s=3600.0,
    )  # fmt: skip
    async with Simulator(
        settings, clock=clock, on_sent=lambda c, f: sent[c].append((clock.time_ns(), f))
    ) as sim:
        cfg = _config(sim, tmp_path)
        said: list[str] = []
        sup = Supervisor(
            cfg, [KEY], clock=clock, workers=2, token_check_s=0.5, restart_base_s=0.2, progress=said.append
        )
        stop = asyncio.Event()
        run = asyncio.create_task(sup.run(stop))
        await wait_until(
            lambda: (
                sup.result.plan is not None and sim.hub.registrations_total() == sup.result.plan.placed > 0
            ),
            60,
        )
        planned = {(r.tr_cd, format_tr_key(r.tr_cd, r.symbol)) for r in sup.result.registrations}
        dropped: dict[str, int] = {}  # sim connection -> sim time it was cut
        stalled: str | None = None
        killed: str | None = None
        rng = random.Random(7)
        step = 0
        while True:
            await asyncio.sleep(2.5)  # the pace of the faults, not a synchronisation
            if clock.time_ns() >= _ns(END):
                break
            step += 1
            live = sorted(c for c in sim.hub.connections if c != stalled)
            if step == 3 and live:
                stalled = live[0]
                sim.inject("stall", conn_id=stalled)
                continue
            if step == 5:
                sim.inject("malformed", count=3)
            if step == 7:
                # The next registration is refused: the first re-registration after this drop. (Not on
                # a connection with FH9/FC9, whose refusal is answered by trying the legacy code.)
                live = [
                    c
                    for c in live
                    if not {t for t, _k in sim.hub.connections[c].registrations} & {"FH9", "FC9"}
                ]
                sim.inject("refuse", count=1)
            if step == 8:
                skip_key = next(k for t, k in planned if t == "S3_")
                sim.inject("skip", count=3, tr_cd="S3_", tr_key=skip_key)
            if step == 10:
                victim = sup.result.workers[0]
                assert victim.proc is not None
                killed = victim.spec.worker_id
                os.kill(victim.proc.pid, signal.SIGKILL)
                continue
            if live:
                conn = rng.choice(live)
                dropped[conn] = clock.time_ns()
                sim.inject("drop", conn_id=conn)
        stop.set()
        stop_ns = clock.time_ns()
        result = await asyncio.wait_for(run, 120)
    assert result.restarts >= 1 and killed is not None and stalled is not None
    # Tokens lived an hour: each was refreshed before it expired and handed to the workers.
    assert sum("refreshed" in m for m in said) >= 5

    # -- nothing sent while a connection was up is missing, nothing is journaled twice ----------
    days = [trading_day_of(_ns(START)), trading_day_of(_ns(END))]
    assert days[0] != days[1]  # the run crossed the 07:30 cutoff
    journaled: Counter[bytes] = Counter()
    conn_of: dict[bytes, str] = {}
    for day in days:
        for rec in iter_records(tmp_path / "journal" / f"date={day}"):
            if rec.kind == Kind.FRAME and b'"rsp_cd"' not in rec.payload:
                journaled[rec.payload] += 1
                conn_of[rec.payload] = rec.conn_id
    assert sum(journaled.values()) > 10_000
    remaining = Counter(journaled)
    lost_by_conn: dict[str, list[int]] = {}
    for sim_conn, frames in sent.items():
        got = [remaining[f] > 0 for _t, f in frames]
        for ok, (_t, f) in zip(got, frames, strict=True):
            if ok:
                remaining[f] -= 1
        first_lost = got.index(False) if False in got else len(got)
        assert not any(got[first_lost:]), f"{sim_conn}: a frame after a lost one was received"
        if first_lost < len(got):
            lost_by_conn[sim_conn] = [t for t, _f in frames[first_lost:]]
    assert sum(remaining.values()) == 0  # every journaled frame was sent, and only once
    for sim_conn, times in lost_by_conn.items():
        first = next(f for _t, f in sent[sim_conn] if f in conn_of)
        cut_by_kill = conn_of[first].startswith(f"{killed}-")
        cut_at = dropped.get(sim_conn, stop_ns if not cut_by_kill else None)
        assert cut_by_kill or (cut_at is not None and max(times) <= cut_at), (
            f"{sim_conn}: frames lost while the connection was up"
        )

    # -- every journaled frame is in Parquet or quarantine, once ---------------------------------
    for day in days:
        data = [
            r.seq for r in iter_records(tmp_path / "journal" / f"date={day}")
            if r.kind == Kind.FRAME and b'"rsp_cd"' not in r.payload
        ]  # fmt: skip
        files = [str(p) for p in (tmp_path / "parquet" / f"date={day}").rglob("*.parquet")]
        rows = ds.dataset(files, format="parquet").count_rows() if files else 0
        bad = _quarantined(tmp_path, day)
        assert rows + bad == len(data), f"{day}: {rows} rows + {bad} quarantined != {len(data)} frames"

    # -- every outage is a gap row; the ledger accounts for every planned (TR, symbol) -----------
    gaps = _ledger(tmp_path, days, "gaps")
    outages = [g for g in gaps if g["kind"] == "outage"]
    starts: dict[str, list[int]] = defaultdict(list)  # connection -> its outages' starts
    for g in outages:
        if g["end"] is not None:
            starts[g["conn_id"]].append(int(g["start"].timestamp() * 1e9))
    for sim_conn, cut_ns in sorted(dropped.items(), key=lambda d: d[1]):
        received = [f for _t, f in sent.get(sim_conn, []) if f in conn_of]
        if not received:
            continue
        conn_id = conn_of[received[0]]
        # Its own outage, begun when the drop was noticed: within 5 s of real time (3,000 s of the
        # compressed day) on a busy machine. Each outage answers one drop.
        found = [t for t in sorted(starts[conn_id]) if -5e9 < t - cut_ns < 3000e9]
        assert found, (
            f"no gap row for the drop of {conn_id} at {_hms(cut_ns)}; its outages start at"
            f" {[_hms(t) for t in starts[conn_id]]}"
        )
        starts[conn_id].remove(found[0])
    # Each names what it cut off, the day's first ones too (registered before the cutoff).
    assert outages and all(g["tr_cd"] and g["symbols"] for g in outages)
    assert any(g["cause"].startswith("the worker stopped") for g in outages)  # the kill
    assert any(g["cause"].startswith("stalled") for g in outages)  # the stall, found and reconnected
    coverage = {(r["tr_cd"], r["tr_key"]): r for r in _ledger(tmp_path, days[1:], "coverage")}
    for key in planned:
        row = coverage[key]
        assert row["subscriptions"] >= 1 and (row["acked"] is not None or row["refusals"] > 0), key
        assert row["frames"] > 0, f"{key} produced nothing all day"
    # LS's market-status feed ran beside the data, for the stall watchdog.
    assert coverage[("JIF", "0")]["frames"] > 0
    # One refusal, the injected one: no re-registration was refused for an expired token.
    assert sum(r["refusals"] for r in _ledger(tmp_path, days, "coverage")) == 1

    # -- trades not sent are volume gaps, filled over REST ---------------------------------------
    volume = [g for g in gaps if g["kind"] == "volume"]
    assert volume and all(g["missing"] > 0 for g in volume)
    assert any(g["status"] == "filled" and g["rest_tr"] == "t1301" for g in volume)

    text = render(build_report(tmp_path, days[1]))
    assert "backfilled" in text and "gaps (connections down)" in text
