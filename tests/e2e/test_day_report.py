"""The morning after, as a user meets it: `gatherer run` records a short simulated day (one KOSPI
stock's trades partly withheld by the venue's ``skip`` fault, backfill off so nothing fetches
them), then `gatherer quality`, `gatherer report --format html|json`, `gatherer seal`,
`gatherer verify` and `gatherer rebuild`, each the installed command in a process of its own.

One recording serves every test here (module fixture): the quality score, the HTML page in a
headless chromium, and the manifest checks, which work on copies of the recorded day.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import pytest

from gatherer.capture import Kind, iter_records
from gatherer.clock import trading_day_of
from gatherer.config import load_config
from gatherer.ledger import read_gaps
from gatherer.run.schedule import Scheduler
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.auth import Credentials

from ..conftest import sim_settings
from ..helpers.procs import ENV
from ..helpers.waiting import wait_until


@dataclass
class Day:
    root: Path
    config: Path
    day: dt.date
    skipped: list[tuple[str, str, int]]
    """(tr_cd, tr_key, cumulative volume) of the prints the venue withheld."""
    closed: Path
    """A copy of the day closed as `gatherer run --schedule` closes a day (``Scheduler.close_day``)."""
    closing: list[str]
    """What it said while closing it."""


def _config(sim: Simulator, root: Path) -> Path:
    path = root / "gatherer.toml"
    path.write_text(
        f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
registrations_per_s = 80
rest_rate_scale = 20
connections_per_key = 2

[storage]
root = "{root}"
parquet_flush_s = 1

[backfill]
enabled = false

[markets.kospi]
max_symbols = 2
channels = ["trade"]

[markets.ofutures]
max_symbols = 2
channels = ["trade"]

[markets.kosdaq]
max_symbols = 1
""",
        encoding="utf-8",
    )
    return path


def gatherer(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "gatherer", *args], env=ENV, capture_output=True, text=True, timeout=120
    )
    if check:
        assert done.returncode == 0, f"gatherer {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done


def _journal_frames(root: Path) -> int:
    base = root / "journal"
    return sum(1 for r in iter_records(base) if r.kind == Kind.FRAME) if base.is_dir() else 0


async def _record(root: Path) -> Day:
    s3: Counter[str] = Counter()

    def count(_conn: str, frame: bytes) -> None:
        if frame.startswith(b'{"header":{"tr_cd":"S3_"'):
            s3[json.loads(frame)["header"]["tr_key"]] += 1

    settings = sim_settings(stream=StreamSettings(rate_fps=1500.0), limits=VenueLimits(rest_rate_scale=20))
    async with Simulator(settings, on_sent=count) as sim:
        config = _config(sim, root)
        assert sim.clock_spec is not None
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gatherer", "run", "--config", str(config), "--clock", sim.clock_spec,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=ENV,
            start_new_session=True,
        )  # fmt: skip
        log: list[bytes] = []

        async def drain() -> None:
            assert proc.stderr is not None
            while line := await proc.stderr.readline():
                log.append(line)

        reader = asyncio.create_task(drain())
        try:
            await wait_until(lambda: any(line.startswith(b"recording") for line in log), 60)
            # The skipped key's trades have started; three are withheld, then more arrive (the hole shows).
            await wait_until(lambda: len(s3) == 2 and min(s3.values()) >= 5, 60)
            key = min(s3)
            sim.inject("skip", count=3, tr_cd="S3_", tr_key=key)
            await wait_until(lambda: len(sim.hub.skipped) == 3, 60)
            after = s3[key]
            await wait_until(lambda: s3[key] >= after + 3, 60)
            # The venue stops printing; the collector stops once all it sent is in the journal.
            sim.hub.paused = True
            sent = sim.hub.frames_sent_total + sim.hub.acks_total
            await wait_until(lambda: _journal_frames(root) >= sent, 60)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 120) == 0, b"".join(log).decode()
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
            await reader
        day = trading_day_of(sim.clock.time_ns())
        # The venue's end-of-day volumes, asked while it still answers REST.
        args = ("quality", "--date", day.isoformat(), "--config", str(config), "--clock", sim.clock_spec)
        done = await asyncio.create_subprocess_exec(sys.executable, "-m", "gatherer", *args, env=ENV)
        assert await asyncio.wait_for(done.wait(), 120) == 0
        # The same day closed as a scheduled run closes it after the grace: quality, seal, report.
        closed = root.parent / f"{root.name}-closed"
        await asyncio.to_thread(shutil.copytree, root, closed, ignore=shutil.ignore_patterns("*.lock"))
        cfg = load_config(str(config))
        cfg = msgspec.structs.replace(cfg, storage=msgspec.structs.replace(cfg.storage, root=str(closed)))
        closing: list[str] = []
        scheduler = Scheduler(
            cfg, [Credentials("e2e-appkey", "e2e-appsecret")], clock=sim.clock, say=closing.append
        )
        await scheduler.close_day(day, "test")
        return Day(root, config, day, list(sim.hub.skipped), closed, closing)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    root = tmp_path_factory.mktemp("day")
    yield asyncio.run(_record(root))


def _copy(day: Day, dest: Path) -> Path:
    """A copy of the recorded day, for a test that seals or damages it."""
    shutil.copytree(day.root, dest, ignore=shutil.ignore_patterns("*.lock"))
    return dest


def test_completeness_is_one_for_clean_streams_and_drops_by_the_withheld_volume(recorded: Day) -> None:
    rows = pq.read_table(recorded.root / "quality" / f"date={recorded.day}" / "quality.parquet").to_pylist()
    by = {(r["tr_cd"], r["symbol"]): r for r in rows if r["symbol"]}
    markets = {r["market"]: r for r in rows if not r["symbol"]}
    (gap,) = read_gaps(recorded.root, recorded.day)
    volumes = sorted(v for _t, _k, v in recorded.skipped)
    # The hole is exactly the three withheld prints.
    assert gap.volume_before < volumes[0] and volumes[-1] == gap.volume_after - gap.size_after
    for (tr_cd, symbol), r in by.items():
        if r["market"] == "kosdaq":
            continue  # book and trade feeds of a symbol register one after the other: prints can fall between
        assert r["venue_volume"] and r["venue_tr"] == {"S3_": "t1301", "OVC": "o3116"}[tr_cd]
        if (tr_cd, symbol) == (gap.tr_cd, gap.symbol):
            assert r["venue_volume"] - r["captured_volume"] == gap.missing > 0
            assert r["volume_score"] == pytest.approx(1 - gap.missing / r["venue_volume"])
            assert r["unfilled_holes"] == 1 and r["unfilled_volume"] == gap.missing
            assert not r["research_grade"]
        else:
            assert r["captured_volume"] == r["venue_volume"] and r["volume_score"] == 1.0
            assert r["unfilled_holes"] == 0
        assert r["before_first_volume"] == 0  # trade-only symbols: the venue printed nothing before
    assert sum(1 for k in by if k[0] in ("S3_", "OVC")) == 4
    assert markets["ofutures"]["volume_score"] == 1.0
    assert markets["kospi"]["venue_volume"] - markets["kospi"]["captured_volume"] == gap.missing
    # Seconds recorded out of a trading day: far from research grade, and said so.
    assert 0 < markets["kospi"]["time_score"] < 0.01 and not markets["kospi"]["research_grade"]


def test_the_html_report_has_its_plots_and_opens_in_headless_chromium(recorded: Day, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    where = ("--date", str(recorded.day), "--root", str(recorded.root))
    gatherer("report", *where, "--format", "html", "--out", str(page))
    html = page.read_text(encoding="utf-8")
    titles = ("Frames per minute per market", "Reconnects and gaps", "Coverage per market", "Backfill:")
    for title in titles:
        assert f"<title>{title}" in html, title
    assert html.count("<svg") == 4 and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert 'class="series" data-name="kospi"' in html and "kospi/trade" in html
    assert "S3_" in html and "pending" in html  # the withheld prints: a gap backfill never fetched
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (.ci/run installs it)")
    shot = tmp_path / "report.png"
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ]  # fmt: skip
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The browser parsed the page: its DOM has the four plots and the file table's rows.
    assert dom.stdout.count("<svg") == 4 and 'class="files"' in dom.stdout
    assert dom.stdout.count("<polyline") >= 3
    done = subprocess.run(
        [chromium, *flags, "--window-size=1000,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]


def test_the_json_report_lists_every_file_with_its_hash(recorded: Day) -> None:
    done = gatherer("report", "--date", str(recorded.day), "--root", str(recorded.root), "--format", "json")
    doc = json.loads(done.stdout)
    paths = {f["path"] for f in doc["files"]}
    assert any(p.startswith("journal/") for p in paths) and any(p.startswith("quality/") for p in paths)
    assert any(p.startswith(f"parquet/date={recorded.day}/market=kospi/channel=trade/") for p in paths)
    assert all(len(f["sha256"]) == 64 for f in doc["files"])
    parquet_rows = sum(f["rows"] for f in doc["files"] if f["path"].startswith("parquet/"))
    assert parquet_rows == sum(r["rows"] for r in doc["parquet_rows"]) > 0
    assert {q["market"] for q in doc["quality"]} == {"kospi", "kosdaq", "ofutures"}


def test_verify_names_a_changed_a_missing_and_an_added_file(recorded: Day, tmp_path: Path) -> None:
    root = _copy(recorded, tmp_path / "data")
    day = str(recorded.day)
    sealed = gatherer("seal", "--date", day, "--root", str(root))
    assert "sealed" in sealed.stdout
    manifest = json.loads((root / "manifest" / f"date={day}.json").read_text())
    files = [root / f["path"] for f in manifest["files"]]
    assert files and all(not os.access(p, os.W_OK) or os.geteuid() == 0 for p in files)
    assert all(p.stat().st_mode & 0o222 == 0 for p in files)
    assert gatherer("verify", "--date", day, "--root", str(root)).returncode == 0

    parquet = next(p for p in files if p.suffix == ".parquet" and "/parquet/" in str(p))
    journal = next(p for p in files if "/journal/" in str(p))
    os.chmod(parquet, 0o644)
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0x01
    parquet.write_bytes(bytes(data))
    os.chmod(journal, 0o644)
    journal.unlink()
    extra = root / "quarantine" / f"date={day}" / "extra.jsonl"
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_text('{"reason": "planted"}\n')
    done = gatherer("verify", "--date", day, "--root", str(root), check=False)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    rel = lambda p: str(p.relative_to(root))  # noqa: E731
    assert any(line.startswith("changed") and rel(parquet) in line for line in lines), done.stdout
    assert any(line.startswith("missing") and rel(journal) in line for line in lines), done.stdout
    assert any(line.startswith("appeared") and rel(extra) in line for line in lines), done.stdout
    assert len(lines) == 3


def test_rebuild_of_a_sealed_day_refuses_without_force_and_seals_again_with_it(
    recorded: Day, tmp_path: Path
) -> None:
    root = _copy(recorded, tmp_path / "data")
    day = str(recorded.day)
    gatherer("seal", "--date", day, "--root", str(root))
    before = json.loads((root / "manifest" / f"date={day}.json").read_text())
    refused = gatherer("rebuild", "--date", day, "--root", str(root), "--processes", "1", check=False)
    assert refused.returncode == 2 and "is sealed" in refused.stderr and "--force" in refused.stderr
    config = root / "offline.toml"
    config.write_text(f'[storage]\nroot = "{root}"\n', encoding="utf-8")
    rescore = gatherer("quality", "--date", day, "--config", str(config), "--offline", check=False)
    assert rescore.returncode == 2 and "is sealed" in rescore.stderr  # the quality file is sealed too
    gatherer("rebuild", "--date", day, "--root", str(root), "--processes", "1", "--force")
    after = json.loads((root / "manifest" / f"date={day}.json").read_text())
    assert after["sealed_at"] >= before["sealed_at"]
    assert gatherer("verify", "--date", day, "--root", str(root)).returncode == 0
    rows = lambda m: sum(f["rows"] or 0 for f in m["files"] if f["path"].startswith("parquet/"))  # noqa: E731
    assert rows(after) == rows(before) > 0


def test_a_scheduled_day_is_closed_with_its_quality_seal_and_report(recorded: Day) -> None:
    closed, day = recorded.closed, str(recorded.day)
    assert any(f"trading day {day}: quality.parquet written" in line for line in recorded.closing)
    rows = pq.read_table(closed / "quality" / f"date={day}" / "quality.parquet").to_pylist()
    assert {r["market"] for r in rows if not r["symbol"]} == {"kospi", "kosdaq", "ofutures"}
    assert all(r["venue_volume"] is not None for r in rows if r["tr_cd"] in ("S3_", "OVC"))
    page = (closed / "reports" / f"date={day}.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 4 and "The day is sealed" in page
    manifest = json.loads((closed / "manifest" / f"date={day}.json").read_text())
    paths = {f["path"] for f in manifest["files"]}
    assert f"quality/date={day}/quality.parquet" in paths and any(p.startswith("journal/") for p in paths)
    assert all(os.stat(closed / p).st_mode & 0o222 == 0 for p in paths)
    assert gatherer("verify", "--date", day, "--root", str(closed)).returncode == 0
