"""The status picture from status files, its health rule, its metrics, and the page's token check."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatherer.config import parse_config
from gatherer.errors import ConfigError
from gatherer.ops.metrics import exposition, registry_of
from gatherer.ops.picture import Observer, RunFacts, health
from gatherer.ops.snapshot import (
    ConnectionStatus,
    JournalStatus,
    StoreStatus,
    WorkerStatus,
    store_status_path,
    worker_status_path,
    write_status,
)
from gatherer.ops.status_page import StatusPage, required_token

RUNNING = RunFacts(processes={"w00": "running"}, registrations=3)


def conn(
    state: str = "streaming", frames: int = 10, reconnects: int = 0, error: str = ""
) -> ConnectionStatus:
    return ConnectionStatus(
        conn_id="w00-c000", key_index=0, state=state, registrations=3, accepted=3, refused=0, unanswered=0,
        frames=frames, connects=1 + reconnects, reconnects=reconnects, stalls=0, last_error=error,
    )  # fmt: skip


def worker(
    pid: int, frames: int, *, state: str = "streaming", updated_s: float | None = None
) -> WorkerStatus:
    return WorkerStatus(
        worker_id="w00",
        pid=pid,
        updated_s=time.time() if updated_s is None else updated_s,
        clock_ns=5_000_000_000,
        journal=JournalStatus(next_seq=100, durable_seq=99, durable_lag_s=0.05, pending_bytes=0),
        connections=[conn(state, frames)],
        frames=[("kospi", "trade", frames)],
    )


def store(pid: int, last_seq: int, quarantined: dict[str, int]) -> StoreStatus:
    return StoreStatus(
        worker_id="w00", pid=pid, updated_s=time.time(), last_seq=last_seq, last_recv_ns=2_000_000_000,
        records=last_seq + 1, rows=last_seq, quarantined=sum(quarantined.values()),
        quarantine_reasons=quarantined, gaps=0, files=0,
    )  # fmt: skip


def test_counters_carry_over_a_replaced_worker_process(tmp_path: Path) -> None:
    observer = Observer(tmp_path)
    write_status(worker_status_path(tmp_path, "w00"), worker(pid=1, frames=500))
    write_status(store_status_path(tmp_path, "w00"), store(pid=2, last_seq=60, quarantined={"bad_value": 2}))
    first = observer.sample(RUNNING)
    assert first.frames == [("kospi", "trade", "w00", 500)]
    assert first.quarantined == {"bad_value": 2}
    assert first.workers[0].store_lag_records == 39
    assert first.workers[0].store_lag_s == 3.0  # the worker's clock at 5 s, the store's last record at 2 s
    # The worker was restarted (another pid) and counts from 0 again: the run's totals only grow.
    write_status(worker_status_path(tmp_path, "w00"), worker(pid=3, frames=20))
    write_status(
        store_status_path(tmp_path, "w00"), store(pid=4, last_seq=99, quarantined={"weird reason!": 1})
    )
    second = observer.sample(RUNNING)
    assert second.frames == [("kospi", "trade", "w00", 520)]
    assert second.quarantined == {"bad_value": 2, "other": 1}  # a label value is never free text
    assert second.workers[0].store_lag_records == 0 and second.workers[0].store_lag_s == 0.0


def test_health_names_what_is_wrong(tmp_path: Path) -> None:
    now = time.time()
    ok, why = health(RUNNING, {"w00": worker(1, 5)}, now)
    assert ok and why == []
    ok, why = health(RunFacts(processes={"w00": "restarting"}), {"w00": worker(1, 5)}, now)
    assert not ok and why == ["w00: worker process restarting"]
    ok, why = health(RUNNING, {"w00": worker(1, 5, state="reconnecting")}, now)
    assert not ok and why == ["w00-c000: reconnecting"]
    ok, why = health(RUNNING, {"w00": worker(1, 5, updated_s=now - 60)}, now)
    assert not ok and "no status for 60 s" in why[0]
    ok, why = health(RUNNING, {}, now)
    assert not ok and why == ["w00: starting (no status yet)"]
    restarted = RunFacts(processes={"w00": "running"}, pids={"w00": 2})
    ok, why = health(restarted, {"w00": worker(1, 5)}, now)  # the file is the killed process's
    assert not ok and why == ["w00: starting (no status yet)"]
    ok, why = health(RunFacts(processes={"w00": "stopped"}, idle="markets closed"), {}, now)
    assert ok and why == ["idle: markets closed"]


def test_metrics_parse_and_carry_the_pictures_figures(tmp_path: Path) -> None:
    observer = Observer(tmp_path)
    write_status(worker_status_path(tmp_path, "w00"), worker(pid=1, frames=500))
    observer.sample(RUNNING)
    text = exposition(registry_of(lambda: observer.latest)).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert (
        samples[
            ("gatherer_capture_frames_total", (("channel", "trade"), ("market", "kospi"), ("worker", "w00")))
        ]
        == 500
    )
    assert samples[("gatherer_capture_connections", (("state", "streaming"),))] == 1
    assert samples[("gatherer_capture_registrations", (("status", "planned"),))] == 3
    assert samples[("gatherer_run_healthy", ())] == 1
    assert samples[("gatherer_capture_durable_lag_seconds", (("worker", "w00"),))] == 0.05


def test_a_status_page_off_loopback_needs_its_token() -> None:
    assert required_token("127.0.0.1:9108", {}) is None
    assert required_token("[::1]:9108", {}) is None
    with pytest.raises(ConfigError, match="GATHERER_STATUS_TOKEN"):
        required_token("0.0.0.0:9108", {})
    with pytest.raises(ConfigError, match="at least 16"):
        required_token("0.0.0.0:9108", {"GATHERER_STATUS_TOKEN": "short"})
    assert required_token("10.0.0.5:9108", {"GATHERER_STATUS_TOKEN": "s" * 20}) == "s" * 20
    with pytest.raises(ConfigError, match=r"status\.listen"):
        parse_config('[status]\nlisten = "9108"\n')


async def test_requests_without_the_token_are_refused(tmp_path: Path) -> None:
    observer = Observer(tmp_path)
    observer.sample(RUNNING)
    token = "t" * 24
    page = StatusPage(lambda: observer.latest, lambda: list(observer.history), token=token)
    url = await page.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "metrics") as resp:
                assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
            async with http.get(url + "healthz", headers={"Authorization": "Bearer wrong"}) as resp:
                assert resp.status == 401
            async with http.get(url + "healthz", headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 503  # no status file: the worker has not started
                assert "w00: starting" in await resp.text()
            basic = base64.b64encode(f"me:{token}".encode()).decode()
            async with http.get(url, headers={"Authorization": f"Basic {basic}"}) as resp:
                assert resp.status == 200 and "<svg" in await resp.text()
            async with http.get(
                url + "static/../config.py", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == 404
    finally:
        await page.stop()


async def test_gatherer_status_reads_the_files_while_a_run_holds_the_root(tmp_path: Path) -> None:
    from rich.console import Console

    from gatherer.cli.run_view import summary_line
    from gatherer.cli.status import NoCollector, picture_of
    from gatherer.ops.picture import Picture
    from gatherer.ops.status_text import compact, full
    from gatherer.run.lock import RunLock

    write_status(worker_status_path(tmp_path, "w00"), worker(pid=1, frames=500))
    with pytest.raises(NoCollector, match="no collector is running"):
        await picture_of(tmp_path)
    with RunLock(tmp_path, "now"):
        data = await picture_of(tmp_path)
    assert data["frames"] == [["kospi", "trade", "w00", 500]] and data["healthy"]
    picture = msgspec.convert(data, Picture)
    console = Console(record=True, width=200)
    console.print(full(picture))
    console.print(compact(picture))
    text = console.export_text()
    assert "kospi" in text and "500" in text and "healthy" in text and "connections 1/1 up" in text
    assert summary_line(picture).startswith("status: kospi 0/s; connections 1/1 up, 0 reconnects")


def test_frames_are_summed_per_market_and_channel_and_strangers_are_unknown() -> None:
    from gatherer.run.status_files import _frames

    channels = {("kospi", "trade"): [b"S3_|005930", b"S3_|000660"], ("kfutures", "book"): [b"FH9|A0166000"]}
    counts = {b"S3_|005930": 7, b"S3_|000660": 3, b"XX_|nobody": 2}
    assert _frames(counts, channels) == {("kospi", "trade"): 10, ("unknown", "unknown"): 2}
