"""One `gatherer run` with `[status] listen`, against the simulator, observed every way it can be:

- the status page in a real browser (headless Chromium: Debian's chromium and chromium-driver, which
  CI installs): the numbers move, the charts draw a line per market, and once the venue goes quiet
  the page shows exactly the collector's own frame count; the screenshot is saved as
  status-page.png in the test's temporary directory;
- /metrics in Prometheus text that prometheus-client parses, counters that only grow through a
  venue-wide drop and a killed worker, labels bounded with 1,000 symbols;
- /healthz: 503 naming the worker while it is down, 200 again once its restart streams;
- `gatherer status --json` while it runs, and its clear message once it is gone.
One collector for all of it: starting one takes seconds, and the suite has a time budget."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatherer.ops.snapshot import WorkerStatus
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.catalog import MARKET_CHANNELS

from ..conftest import Reap, sim_settings
from ..helpers.procs import ENV, children, start_run, wait_recording

SYMBOLS = 1000
CONNECTIONS = 4
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LABELS = {
    "market": set(MARKET_CHANNELS),
    "channel": {c for cs in MARKET_CHANNELS.values() for c in cs},
    "worker": {f"w{i:02d}" for i in range(100)},
    "state": {"connecting", "registering", "streaming", "reconnecting", "stopped"},
    "status": {"planned", "acknowledged", "refused", "unanswered"},
    "key": {str(i) for i in range(1, 100)},
}
T = TypeVar("T")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
ACKED = ("gatherer_capture_registrations", (("status", "acknowledged"),))
RECONNECTS = ("gatherer_capture_reconnects_total", (("worker", "w00"),))


def status_config(sim: Simulator, root: Path) -> Path:
    path = root / "gatherer.toml"
    path.write_text(
        f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
connections_per_key = {CONNECTIONS}
registrations_per_connection = 300
registrations_per_s = 2000
rest_rate_scale = 20

[storage]
root = "{root}"

[status]
listen = "127.0.0.1:0"

[backfill]
enabled = false  # the drop and the kill leave gaps; filling them is not what this test is about

[markets.kospi]
max_symbols = {SYMBOLS}
channels = ["trade"]

[markets.ofutures]
max_symbols = 10
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium through chromedriver; fails (never skips) when either is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver"
            " (`apt-get install -y chromium chromium-driver`; .ci/run does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'chromium'}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


async def eventually(probe: Callable[[], T | None], what: str, timeout_s: float = 30.0) -> T:
    """``probe`` (in a thread: Selenium and file reads block) until it returns something, bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        got = await asyncio.to_thread(probe)
        if got is not None:
            return got
        assert loop.time() < deadline, f"not reached in {timeout_s:g} s: {what}"
        await asyncio.sleep(0.1)


def own_counter(root: Path) -> int:
    """The collector's own count of data frames: what its worker wrote in its status file."""
    status = msgspec.json.decode((root / "state" / "w00.status.json").read_bytes(), type=WorkerStatus)
    return sum(n for _m, _c, n in status.frames)


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as resp:
        return resp.status, await resp.text()


async def scrape(http: aiohttp.ClientSession, base: str) -> Samples:
    status, text = await get(http, base + "metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape_until(
    http: aiohttp.ClientSession, base: str, ok: Callable[[Samples], bool], what: str
) -> Samples:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not ok(samples := await scrape(http, base)):
        assert loop.time() < deadline, f"/metrics never showed {what}"
        await asyncio.sleep(0.1)
    return samples


async def healthz_becomes(http: aiohttp.ClientSession, base: str, code: int, timeout_s: float = 60) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        status, body = await get(http, base + "healthz")
        if status == code:
            return body
        assert loop.time() < deadline, f"/healthz stayed {status}: {body}"
        await asyncio.sleep(0.05)


def assert_grew(before: Samples, after: Samples) -> None:
    """Every counter of ``before`` is in ``after``, no smaller."""
    for key, value in before.items():
        if key[0].endswith("_total"):
            assert key in after, f"{key} disappeared"
            assert after[key] >= value, f"{key} went back from {value} to {after[key]}"


async def check_page(browser: Any, url: str, sim: Simulator, root: Path) -> None:
    from selenium.webdriver.common.by import By

    await asyncio.to_thread(browser.get, url)

    def frames_shown() -> int | None:
        value = browser.find_element(By.ID, "frames-total").get_attribute("data-value")
        return int(value) if value and int(value) > 0 else None

    first = await eventually(frames_shown, "a frame count on the page")
    await eventually(lambda: ((n := frames_shown()) is not None and n > first) or None, "the count moving")

    def drawn() -> bool | None:
        lines = browser.find_elements(By.CSS_SELECTOR, "#chart-fps polyline")
        markets = {p.get_attribute("data-series") for p in lines}
        points = [(p.get_attribute("points") or "").split() for p in lines]
        return True if {"kospi", "ofutures"} <= markets and all(len(p) >= 2 for p in points) else None

    await eventually(drawn, "the frames/s chart with a line per market")
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-lag polyline")
    assert "healthy" in browser.find_element(By.ID, "health").text
    # The venue goes quiet: the page settles on exactly the worker's own count.
    sim.inject("stall")
    await eventually(
        lambda: True if frames_shown() == own_counter(root) > first else None, "the page's count"
    )
    await asyncio.to_thread(browser.save_screenshot, str(root / "status-page.png"))
    sim.inject("unstall")


async def check_metrics_and_health(http: aiohttp.ClientSession, base: str, sim: Simulator, pid: int) -> None:
    first = await scrape_until(http, base, lambda s: s[ACKED] >= SYMBOLS, "every registration acknowledged")
    frames = {k: v for k, v in first.items() if k[0] == "gatherer_capture_frames_total"}
    assert sum(frames.values()) > 0 and {dict(k[1])["worker"] for k in frames} == {"w00"}
    # Bounded: a handful of series for 1,000 symbols, and no label value is a symbol.
    assert len(first) < 100, sorted(first)
    for _name, labels in first:
        for label, value in labels:
            reason = label == "reason" and re.fullmatch(r"[a-z_]+", value)
            assert value in LABELS[label] or reason, (label, value)

    # A venue-wide drop: every connection reconnects; no counter goes back.
    assert sim.inject("drop") == CONNECTIONS
    await scrape_until(http, base, lambda s: s[RECONNECTS] >= CONNECTIONS, "the reconnects")
    await healthz_becomes(http, base, 200)
    after_drop = await scrape(http, base)
    assert_grew(first, after_drop)

    # A worker killed: /healthz says 503 and names it until its restart is back.
    (worker,) = children(pid)
    os.kill(worker, signal.SIGKILL)
    why = await healthz_becomes(http, base, 503, 30)
    assert "w00" in why, why
    await healthz_becomes(http, base, 200)
    after_kill = await scrape_until(http, base, lambda s: s[ACKED] >= SYMBOLS, "the restart registered")
    assert_grew(after_drop, after_kill)


async def gatherer_status(root: Path, *flags: str) -> tuple[int, bytes, bytes]:
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "status", "--root", str(root), *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    out, err = await asyncio.wait_for(cli.communicate(), 30)
    assert cli.returncode is not None
    return cli.returncode, out, err


async def test_a_running_collector_shows_in_a_browser_metrics_healthz_and_gatherer_status(
    tmp_path: Path, reap: Reap, browser: Any
) -> None:
    limits = VenueLimits(registrations_per_s=5000, rest_rate_scale=20)
    async with Simulator(sim_settings(stream=StreamSettings(rate_fps=3000.0), limits=limits)) as sim:
        proc = await start_run(reap, sim, status_config(sim, tmp_path))
        await wait_recording(proc)
        state = tmp_path / "state" / "status.json"
        url = await eventually(
            lambda: json.loads(state.read_text())["url"] if state.exists() else None, "url"
        )
        await check_page(browser, url, sim, tmp_path)
        async with aiohttp.ClientSession() as http:
            await check_metrics_and_health(http, url, sim, proc.pid)
        code, out, err = await gatherer_status(tmp_path, "--json")
        assert code == 0, err.decode()
        picture = json.loads(out)
        assert picture["registrations"]["acknowledged"] >= SYMBOLS
        assert {r["market"] for r in picture["rates"]} == {"kospi", "ofutures"}
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
    assert (tmp_path / "status-page.png").stat().st_size > 10_000
    assert not state.exists()  # gone with the collector
    code, _out, err = await gatherer_status(tmp_path)
    assert code == 1
    assert b"no collector is running" in err
