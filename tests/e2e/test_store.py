"""Simulator -> collector -> journal -> decode -> Parquet, end to end: every frame sent is
in Parquet exactly once with every field equal to the string sent; malformed frames are in
quarantine and nowhere else; a run across the 07:30 cutoff splits days; rebuild equals live."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from gatherer.capture import Kind, iter_records
from gatherer.clock import SEOUL, ScaledClock, trading_day_of
from gatherer.config import MarketConfig
from gatherer.run.pipeline import rebuild_day
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.catalog import CATALOG

from ..conftest import sim_settings
from ..helpers.lake import compare_days, read_quarantine
from ..helpers.recording import record


def parquet_rows(root: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((root / "parquet").rglob("*.parquet")):
        rows.extend(ds.dataset(path, format="parquet").to_table().to_pylist())
    return rows


def data_frames(root: Path) -> dict[int, bytes]:
    return {
        r.seq: r.payload
        for r in iter_records(root / "journal")
        if r.kind == Kind.FRAME and b'"rsp_cd"' not in r.payload
    }


def as_sent(kind: str, value: Any) -> Any:
    """What a stored value must equal, given the string the venue sent."""
    text = value.strip() if isinstance(value, str) else value
    if text in ("", None):
        return None
    if kind == "int":
        return int(text)
    if kind == "dec":
        return Decimal(text.split()[-1])
    return value


async def test_every_frame_is_in_parquet_once_with_every_field_equal(tmp_path: Path) -> None:
    markets = {
        "kospi": MarketConfig(max_symbols=6),
        "koptions": MarketConfig(max_symbols=6),
        "ofutures": MarketConfig(max_symbols=4),
        "ooptions": MarketConfig(max_symbols=4),
    }
    result = await record(tmp_path, markets)
    assert result.store["quarantined"] == 0
    frames = data_frames(tmp_path)
    rows = parquet_rows(tmp_path)
    assert sorted(r["seq"] for r in rows) == sorted(frames)  # exactly once
    for row in rows:
        frame = json.loads(frames[row["seq"]])
        spec = CATALOG[frame["header"]["tr_cd"]]
        assert row["tr_cd"] == spec.tr_cd
        assert row["symbol"] == frame["header"]["tr_key"].strip()
        for f in spec.fields:
            column = "body_symbol" if f.name == "symbol" else f.name
            sent = frame["body"][f.name]
            if f.name == spec.key_field:
                sent = sent.rstrip()  # the key's padding is dropped (docs/formats.md, decoded columns)
            assert row[column] == as_sent(f.kind, sent), (spec.tr_cd, f.name)
    assert {r["tr_cd"] for r in rows} >= {"H1_", "OH0", "OVC", "WOH"}


async def test_malformed_frames_are_in_quarantine_and_nowhere_else(tmp_path: Path) -> None:
    result = await record(tmp_path, {"kosdaq": MarketConfig(max_symbols=5)}, fault_count=12)
    frames = data_frames(tmp_path)
    stored = {r["seq"] for r in parquet_rows(tmp_path)}
    quarantined = [q for d in {trading_day_of(r.recv_ns) for r in iter_records(tmp_path / "journal")}
                   for q in read_quarantine(tmp_path, d)]  # fmt: skip
    q_seqs = {int(q["seq"]) for q in quarantined}
    assert len(quarantined) == 12 == result.store["quarantined"]
    assert not stored & q_seqs
    assert stored | q_seqs == set(frames)
    for q in quarantined:
        assert q["reason"] in ("not_json", "no_header", "body_not_object", "bad_value")
        assert q["payload"].encode() == frames[int(q["seq"])]


async def test_a_run_across_the_cutoff_puts_rows_in_the_right_day(tmp_path: Path) -> None:
    # A summer date: under US daylight time CME trades at 07:30 Seoul (its daily break is
    # 06:00-07:00 KST then; in winter 07:00-08:00, when this market is silent).
    start = dt.datetime(2026, 6, 17, 7, 29, 57, tzinfo=SEOUL)
    clock = ScaledClock(int(start.timestamp() * 1e9), speed=1.0)
    settings = sim_settings(
        start=None, stream=StreamSettings(rate_fps=2000.0), limits=VenueLimits(rest_rate_scale=20)
    )
    await record(
        tmp_path, {"ofutures": MarketConfig(max_symbols=6)}, frames=9000, settings=settings, clock=clock
    )
    rows = parquet_rows(tmp_path)
    days = {r["trading_day"] for r in rows}
    assert days == {dt.date(2026, 6, 16), dt.date(2026, 6, 17)}
    for r in rows:
        assert r["trading_day"] == trading_day_of(r["recv_ns"])
    on_disk = sorted(p.name for p in (tmp_path / "parquet").iterdir())
    assert on_disk == ["date=2026-06-16", "date=2026-06-17"]
    journal_days = sorted(p.name for p in (tmp_path / "journal").iterdir())
    assert journal_days == ["date=2026-06-16", "date=2026-06-17"]


async def test_rebuild_equals_live(tmp_path: Path) -> None:
    live = tmp_path / "live"
    await record(live, {"kospi": MarketConfig(max_symbols=5), "kfutures": MarketConfig()}, fault_count=3)
    copy = tmp_path / "copy"
    shutil.copytree(live, copy)
    (day,) = [dt.date.fromisoformat(p.name[5:]) for p in (live / "parquet").iterdir()]
    report = rebuild_day(copy, day, version="test", cutoffs=None)
    assert report.rows > 0 and report.quarantined == 3
    assert compare_days(live, copy, day) == []
    # The comparison can fail: change one value and it is found.
    some = next((copy / "parquet").rglob("*.parquet"))
    table = ds.dataset(some, format="parquet").to_table()
    import pyarrow.parquet as pq

    pq.write_table(table.set_column(0, "seq", [[s + 1 for s in table.column("seq").to_pylist()]]), some)
    assert compare_days(live, copy, day)
