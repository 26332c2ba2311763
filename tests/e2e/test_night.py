"""The KRX night session, as users run it: `gatherer run` (the installed command, its own process
group, on the simulator's clock) records KOSPI200 futures and options at night on DH0/DC0 from a
Thursday evening across midnight into Christmas, a KRX holiday. Every frame lands in Parquet once,
every field equal to the string sent, with ``session = "night"`` and the trading date KRX gives the
session: the next session date after the evening it starts, Monday 2026-12-28 (LS_OPENAPI.md §3.6).
The journal stays on the evening's day (07:30 rule), and `gatherer rebuild` of the trading date
re-derives it from there, equal to live; retention finds the evening's frames on that date."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from gatherer.capture import Kind, iter_records
from gatherer.clock import SEOUL, to_seoul
from gatherer.decode.schema import column_name
from gatherer.run.retention import day_verified
from gatherer.run.store import JournalTail
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.catalog import CATALOG

from ..conftest import Reap, sim_settings
from ..helpers.lake import compare_days
from .test_stops import GATHERER, Started, journal_in_parquet_once, until
from .test_store import as_sent

EVENING = dt.date(2026, 12, 24)  # a Thursday and a KRX session; the 25th (Friday) is a holiday
BEFORE_MIDNIGHT = dt.datetime(2026, 12, 24, 23, 58, 0, tzinfo=SEOUL)  # two minutes of margin at real speed
AFTER_MIDNIGHT = dt.datetime(2026, 12, 25, 0, 30, 0, tzinfo=SEOUL)
NIGHT_DATE = dt.date(2026, 12, 28)  # the next KRX session: Monday


def night_config(sim: Simulator, root: Path) -> str:
    return f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
registrations_per_s = 200
rest_rate_scale = 20

[storage]
root = "{root}"

[run]
workers = 1

[backfill]
enabled = false

[markets.kfutures]
sessions = ["night"]
spreads = false
max_symbols = 2

[markets.koptions]
sessions = ["night"]
max_symbols = 4
"""


async def record_night(tmp_path: Path, root: Path, start: dt.datetime, reap: Reap, frames: int) -> Path:
    """`gatherer run` against a simulator started at ``start`` (real speed), until ``frames`` data
    frames received after ``start`` are in the journal; then Ctrl-C. Waiting on the journal, not on
    the clock, keeps the run inside its half of the night however long the start takes."""
    settings = sim_settings(
        start=start, stream=StreamSettings(rate_fps=1500.0), limits=VenueLimits(rest_rate_scale=20)
    )
    since = int(start.timestamp()) * 1_000_000_000
    async with Simulator(settings) as sim:
        cwd = tmp_path / start.strftime("%H%M")
        cwd.mkdir()
        config = cwd / "gatherer.toml"
        config.write_text(night_config(sim, root), encoding="utf-8")
        assert sim.clock_spec is not None
        run = Started(["run", "--config", str(config), "--clock", sim.clock_spec], cwd, reap)
        tail = JournalTail(root, "w00")
        seen: list[int] = []

        def journaled() -> bool:
            if (root / "journal").is_dir():
                seen.extend(r.recv_ns for r in tail.poll() if r.kind == Kind.FRAME and r.recv_ns >= since)
            return len(seen) >= frames

        try:
            await until(journaled, f"{frames} frames journaled", 120)
        finally:
            tail.close()
        os.killpg(run.proc.pid, signal.SIGINT)
        assert await run.exit_status() == 0, run.err
    return config


async def test_a_night_session_across_midnight_and_a_holiday_lands_on_the_next_session_date(
    tmp_path: Path, reap: Reap
) -> None:
    root = tmp_path / "data"
    # Before midnight, then after it (a second run appends to the same journal day, as a restart does).
    await record_night(tmp_path, root, BEFORE_MIDNIGHT, reap, frames=100)
    config = await record_night(tmp_path, root, AFTER_MIDNIGHT, reap, frames=100)

    # -- every frame once, every field as sent -----------------------------------------------------
    assert journal_in_parquet_once(root) > 0
    frames = {
        r.seq: r.payload
        for r in iter_records(root / "journal")
        if r.kind == Kind.FRAME and b'"rsp_cd"' not in r.payload
    }
    assert [p.name for p in (root / "journal").iterdir()] == [f"date={EVENING}"]
    assert sorted(p.name for p in (root / "parquet").iterdir()) == [f"date={NIGHT_DATE}"]
    rows = []
    for path in sorted((root / "parquet").rglob("*.parquet")):
        market = path.parent.parent.name.removeprefix("market=")
        rows += [{**r, "market": market} for r in pq.read_table(path).to_pylist() if r["tr_cd"] != "JIF"]
    by_tr = Counter((r["tr_cd"], r["market"]) for r in rows)
    assert set(by_tr) == {(tr, m) for tr in ("DH0", "DC0") for m in ("kfutures", "koptions")}, by_tr
    for row in rows:
        frame = json.loads(frames[row["seq"]])
        spec = CATALOG[frame["header"]["tr_cd"]]
        assert row["session"] == "night"
        assert row["trading_day"] == NIGHT_DATE
        assert row["symbol"] == frame["header"]["tr_key"].strip()
        for f in spec.fields:
            sent = frame["body"][f.name]
            if f.name == spec.key_field:
                sent = sent.rstrip()
            assert row[column_name(f.name)] == as_sent(f.kind, sent), (spec.tr_cd, f.name)
    calendar_days = {to_seoul(r["recv_ns"]).date() for r in rows}
    assert calendar_days == {EVENING, EVENING + dt.timedelta(days=1)}  # across midnight

    # -- rebuild of the trading date reads the evening's journal, and equals live ---------------------
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    shutil.rmtree(copy / "parquet" / f"date={NIGHT_DATE}")
    # Retention finds the evening's frames on their trading date, four days on, and misses them there.
    assert day_verified(root, EVENING) and not day_verified(copy, EVENING)
    (tmp_path / "rb").mkdir()
    args = ["rebuild", "--config", str(config), "--root", str(copy), "--date", NIGHT_DATE.isoformat()]
    rebuilt = Started(args, tmp_path / "rb", reap)
    assert await rebuilt.exit_status() == 0, rebuilt.err
    assert compare_days(root, copy, NIGHT_DATE) == []


def test_sessions_lists_the_night_session_and_nxt_hours(tmp_path: Path) -> None:
    config = tmp_path / "gatherer.toml"
    config.write_text('[markets.kospi]\n[markets.kfutures]\nsessions = ["day", "night"]\n', encoding="utf-8")

    def listing(day: str) -> str:
        done = subprocess.run(
            [GATHERER, "sessions", "--date", day, "--config", str(config)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"}, check=True,
        )  # fmt: skip
        return done.stdout

    thursday = listing("2026-12-24")
    assert "kospi     08:00–20:00   on NXT (Nextrade)" in thursday
    assert (
        "kfutures  00:00–06:00, 18:00–24:00   night session (DH0/DC0, 18:00–06:00):"
        " this evening's is dated 2026-12-28"
    ) in thursday
