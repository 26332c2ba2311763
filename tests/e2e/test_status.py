"""`gatherer run` with `[status] listen`: /metrics in Prometheus text that prometheus-client parses,
counters that only grow through a venue-wide drop and a killed worker, labels bounded with 1,000
symbols, /healthz 503 naming the worker while it is down, and `gatherer status` from the terminal."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.catalog import MARKET_CHANNELS

from ..conftest import Reap, sim_settings
from ..helpers.procs import ENV, children, start_run, wait_recording
from ..helpers.waiting import wait_until

SYMBOLS = 1000
LABELS = {
    "market": set(MARKET_CHANNELS),
    "channel": {c for cs in MARKET_CHANNELS.values() for c in cs},
    "worker": {f"w{i:02d}" for i in range(100)},
    "state": {"connecting", "registering", "streaming", "reconnecting", "stopped"},
    "status": {"planned", "acknowledged", "refused", "unanswered"},
    "key": {str(i) for i in range(1, 100)},
}


def status_config(sim: Simulator, root: Path) -> Path:
    path = root / "gatherer.toml"
    path.write_text(
        f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
connections_per_key = 4
registrations_per_connection = 300
registrations_per_s = 2000
rest_rate_scale = 20

[storage]
root = "{root}"
parquet_flush_s = 2

[status]
listen = "127.0.0.1:0"

[markets.kospi]
max_symbols = {SYMBOLS}
channels = ["trade"]
""",
        encoding="utf-8",
    )
    return path


async def page_url(root: Path) -> str:
    path = root / "state" / "status.json"
    await wait_until(path.exists, 60)
    url: str = json.loads(path.read_text())["url"]
    return url


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as resp:
        return resp.status, await resp.text()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, base: str) -> Samples:
    status, text = await get(http, base + "metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def healthz_becomes(http: aiohttp.ClientSession, base: str, code: int, timeout_s: float) -> str:
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
        if not key[0].endswith("_total"):
            continue
        assert key in after, f"{key} disappeared"
        assert after[key] >= value, f"{key} went back from {value} to {after[key]}"


async def test_metrics_stay_monotonic_and_bounded_and_healthz_names_a_dead_worker(
    tmp_path: Path, reap: Reap
) -> None:
    limits = VenueLimits(registrations_per_s=5000, rest_rate_scale=20)
    async with Simulator(sim_settings(stream=StreamSettings(rate_fps=4000.0), limits=limits)) as sim:
        proc = await start_run(reap, sim, status_config(sim, tmp_path))
        await wait_recording(proc)
        base = await page_url(tmp_path)
        async with aiohttp.ClientSession() as http:
            await healthz_becomes(http, base, 200, 60)  # every connection registered and streaming
            first = await scrape(http, base)
            acked = first[("gatherer_capture_registrations", (("status", "acknowledged"),))]
            assert acked >= SYMBOLS
            frames = {k: v for k, v in first.items() if k[0] == "gatherer_capture_frames_total"}
            assert frames and sum(frames.values()) > 0
            assert {dict(k[1])["worker"] for k in frames} == {"w00"}
            # Bounded: a handful of series for 1,000 symbols, and no label value is a symbol.
            assert len(first) < 80, sorted(first)
            for _name, labels in first:
                for label, value in labels:
                    reason = label == "reason" and re.fullmatch(r"[a-z_]+", value)
                    bounded = value in LABELS[label] or reason
                    assert bounded, (label, value)

            # A venue-wide drop: every connection reconnects; no counter goes back.
            assert sim.inject("drop") == 4
            reconnects = ("gatherer_capture_reconnects_total", (("worker", "w00"),))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while (await scrape(http, base))[reconnects] < 4:
                assert loop.time() < deadline, "the reconnects never showed in /metrics"
                await asyncio.sleep(0.1)
            await healthz_becomes(http, base, 200, 60)
            after_drop = await scrape(http, base)
            assert_grew(first, after_drop)

            # A worker killed: /healthz says 503 and names it until its restart is streaming again.
            (worker,) = children(proc.pid)
            os.kill(worker, signal.SIGKILL)
            why = await healthz_becomes(http, base, 503, 30)
            assert "w00" in why, why
            await healthz_becomes(http, base, 200, 60)
            acked_key = ("gatherer_capture_registrations", (("status", "acknowledged"),))
            # The restart registers everything again.
            while (after_kill := await scrape(http, base))[acked_key] < SYMBOLS:
                assert loop.time() < deadline + 60, "the restarted worker never registered"
                await asyncio.sleep(0.1)
            assert_grew(after_drop, after_kill)

            # `gatherer status` from the terminal reads the same picture.
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gatherer", "status", "--root", str(tmp_path), "--json",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
            )  # fmt: skip
            out, err = await asyncio.wait_for(cli.communicate(), 30)
            assert cli.returncode == 0, err.decode()
            picture = json.loads(out)
            assert picture["registrations"]["acknowledged"] >= SYMBOLS
            assert sum(r["frames_total"] for r in picture["rates"]) >= sum(frames.values())
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
    assert not (tmp_path / "state" / "status.json").exists()  # gone with the collector
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "status", "--root", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    out, err = await asyncio.wait_for(cli.communicate(), 30)
    assert cli.returncode == 1
    assert b"no collector is running" in err
