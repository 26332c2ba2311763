"""`gatherer run` as a real process against the simulator: kill -9 mid-burst, SIGTERM
mid-burst, and a flipped byte that `gatherer journal verify` must report."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from gatherer.capture import Kind, iter_records, verify
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings

from ..conftest import Reap, sim_settings
from ..helpers.procs import ENV, children, start_run, wait_recording, write_config
from ..helpers.waiting import wait_until


def burst_sim() -> Simulator:
    return Simulator(
        sim_settings(stream=StreamSettings(rate_fps=15000.0), limits=VenueLimits(rest_rate_scale=20)),
        on_sent=None,
    )


async def test_kill9_of_the_worker_mid_burst_then_its_restart_repairs_the_tail_and_appends(
    tmp_path: Path, reap: Reap
) -> None:
    async with burst_sim() as sim:
        proc = await start_run(reap, sim, write_config(sim, tmp_path))
        await wait_recording(proc)
        await wait_until(lambda: sim.hub.frames_sent_total > 20000)
        (worker,) = children(proc.pid)  # the process that writes the journal
        os.kill(worker, signal.SIGKILL)
        first_segment = next((tmp_path / "journal").glob("date=*/w00-000001.journal"))
        second = first_segment.with_name("w00-000002.journal")
        # The supervisor restarts the worker; the new one recovers the tail and appends a segment.
        await wait_until(lambda: second.exists() and second.stat().st_size > 100_000, 60)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
    first = list(iter_records(first_segment))
    assert first, "records made durable before the kill are readable"
    records = list(iter_records(tmp_path / "journal"))
    assert [r.seq for r in records] == list(range(len(records)))  # the restart continued after the tail
    assert records[: len(first)] == first
    segments = sorted(p.name for p in (tmp_path / "journal").glob("date=*/*.journal"))
    assert segments == ["w00-000001.journal", "w00-000002.journal"]
    assert any(r.kind == Kind.FRAME for r in records[len(first) :])
    report = verify(tmp_path / "journal")
    assert report.ok and report.records == len(records)
    assert b"1 worker restart" in out


async def test_sigterm_during_a_burst_loses_nothing_received(tmp_path: Path, reap: Reap) -> None:
    sent: dict[str, list[bytes]] = {}
    settings = sim_settings(stream=StreamSettings(rate_fps=15000.0), limits=VenueLimits(rest_rate_scale=20))
    async with Simulator(settings, on_sent=lambda c, f: sent.setdefault(c, []).append(f)) as sim:
        proc = await start_run(reap, sim, write_config(sim, tmp_path))
        await wait_recording(proc)
        await wait_until(lambda: sim.hub.frames_sent_total > 20000)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    received = int(re.search(rb"([\d,]+) messages received", out).group(1).replace(b",", b""))  # type: ignore[union-attr]
    records = list(iter_records(tmp_path / "journal"))
    frames = [r for r in records if r.kind == Kind.FRAME]
    assert len(frames) == received
    # On each connection the journal holds exactly what the venue sent, in order, up to
    # the moment the connection closed: nothing missing, nothing reordered.
    by_conn: dict[str, list[bytes]] = {}
    for r in frames:
        if b'"rsp_cd"' not in r.payload:
            by_conn.setdefault(r.conn_id, []).append(r.payload)
    assert by_conn
    for got in by_conn.values():
        match = [frames_sent for frames_sent in sent.values() if frames_sent[0] == got[0]]
        assert len(match) == 1
        assert got == match[0][: len(got)]
        assert len(got) > 1000


async def test_a_flipped_byte_is_reported_by_journal_verify(tmp_path: Path, reap: Reap) -> None:
    async with burst_sim() as sim:
        proc = await start_run(reap, sim, write_config(sim, tmp_path), "--duration", "1.5")
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
    (segment,) = (tmp_path / "journal").glob("date=*/*.journal")
    data = bytearray(segment.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0x40
    segment.write_bytes(bytes(data))
    check = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "journal", "verify", str(segment),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    out, _err = await check.communicate()
    assert check.returncode == 1
    assert b"damaged" in out
    offsets = [int(m.replace(b",", b"")) for m in re.findall(rb"at byte ([\d,]+)", out)]
    assert offsets and min(offsets) <= middle
