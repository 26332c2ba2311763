"""A full disk under the real collector: the worker keeps what it received, stops reading its
sockets once its memory bound is reached, says so once, and resumes by itself when space returns.

The disk is "full" through the worker process's file-size limit (RLIMIT_FSIZE, raised again from
here with prlimit): Python ignores SIGXFSZ, so writes past the limit fail with EFBIG, exactly the
error path of a full disk, without filling a real one.
"""

from __future__ import annotations

import asyncio
import re
import resource
import signal
from pathlib import Path

import google_crc32c
import msgspec

from gatherer.capture import Journal, JournalSettings, Kind, iter_records, verify
from gatherer.clock import ScaledClock
from gatherer.plan.select import Registration
from gatherer.run.prepare import rest_client
from gatherer.run.worker import Worker, WorkerSettings
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings

from ..conftest import MIDDAY, Reap, sim_settings
from ..helpers.disk import FillingDisk
from ..helpers.procs import children, start_run, wait_recording, write_config
from ..helpers.sim import CREDENTIALS, sim_config
from ..helpers.waiting import wait_until


def _sim_backlog(sim: Simulator) -> int:
    """The largest number of bytes the venue holds for one connection because it is not being read."""
    sizes = [0]
    for conn in sim.hub.connections.values():
        transport = conn.request.transport
        if transport is not None:
            sizes.append(transport.get_write_buffer_size())
    return max(sizes)


async def test_a_full_disk_pauses_capture_and_it_resumes_with_nothing_received_lost(
    tmp_path: Path, reap: Reap
) -> None:
    sent: dict[str, list[int]] = {}  # CRC32C of every frame the venue wrote, per connection

    def on_sent(conn_id: str, frame: bytes) -> None:
        sent.setdefault(conn_id, []).append(google_crc32c.value(frame))

    settings = sim_settings(stream=StreamSettings(rate_fps=15000.0), limits=VenueLimits(rest_rate_scale=20))
    async with Simulator(settings, on_sent=on_sent) as sim:
        proc = await start_run(reap, sim, write_config(sim, tmp_path))
        await wait_recording(proc)
        assert proc.stderr is not None and proc.stdout is not None
        log_lines: list[bytes] = []

        async def read_log() -> None:
            assert proc.stderr is not None
            while line := await proc.stderr.readline():
                log_lines.append(line)

        reader = asyncio.create_task(read_log())
        (worker,) = children(proc.pid)  # the process that writes the journal

        def segments() -> list[Path]:
            return sorted((tmp_path / "journal").glob("date=*/w00-*.journal"))

        await wait_until(lambda: bool(segments()) and segments()[0].stat().st_size > 300_000)
        (segment,) = segments()
        limit = segment.stat().st_size + 1_000_000
        resource.prlimit(worker, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        def logged(text: bytes) -> list[bytes]:
            return [line for line in log_lines if text in line]

        await wait_until(lambda: bool(logged(b"cannot write")), 30)
        # Once the records kept in memory reach the journal's bound the worker stops reading: the
        # venue's frames wait in its socket buffers instead of in the worker.
        await wait_until(lambda: _sim_backlog(sim) > 1 << 20, 30)
        assert children(proc.pid) == [worker], "the worker stays alive through the incident"
        assert proc.returncode is None
        held = segment.stat().st_size
        assert held <= limit
        lifted_ns = sim.clock.time_ns()  # the worker stamps frames with the same clock
        resource.prlimit(worker, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        await wait_until(lambda: bool(logged(b"writes again")), 30)
        await wait_until(lambda: segment.stat().st_size > held + 3_000_000, 30)  # capture goes on
        proc.send_signal(signal.SIGTERM)
        out = await asyncio.wait_for(proc.stdout.read(), 60)
        await asyncio.wait_for(proc.wait(), 60)
        await asyncio.wait_for(reader, 10)
    assert proc.returncode == 0, b"".join(log_lines).decode()

    (error,) = logged(b"cannot write")  # one error for the incident, however many tries
    assert str(segment).encode() in error and b"EFBIG" in error and b"file-size limit" in error
    assert b"ERROR" in error
    records = list(iter_records(tmp_path / "journal"))
    assert [r.seq for r in records] == list(range(len(records)))
    report = verify(tmp_path / "journal")
    assert report.ok and report.records == len(records) and not report.torn_tails
    events = [msgspec.json.decode(r.payload) for r in records if r.kind == Kind.EVENT and r.conn_id == "w00"]
    assert [e["event"] for e in events] == ["disk_full", "disk_ok"]
    assert events[0]["errno"] == "EFBIG"

    frames = [r for r in records if r.kind == Kind.FRAME]
    for r in frames:
        msgspec.json.decode(r.payload)  # every frame whole
    received = int(re.search(rb"([\d,]+) messages received", out).group(1).replace(b",", b""))  # type: ignore[union-attr]
    assert len(frames) == received  # every frame the worker received is in the journal
    assert sum(1 for r in frames if r.recv_ns > lifted_ns) > 1000  # and capture went on after
    # Per connection the journal holds what the venue sent, in order, without a hole: frames the
    # worker did not read while it was paused were read later, or never (the connection closed).
    by_conn: dict[str, list[int]] = {}
    for r in frames:
        if b'"rsp_cd"' not in r.payload:
            by_conn.setdefault(r.conn_id, []).append(google_crc32c.value(r.payload))
    assert by_conn
    for got in by_conn.values():
        (match,) = [s for s in sent.values() if s[0] == got[0]]
        assert got == match[: len(got)]
    print(
        f"\ndisk full: segment held at {held:,} B (limit {limit:,} B) for {events[1]['down_s']} s, "
        f"{events[1]['retries']} tries; {len(frames):,} frames journaled, "
        f"{sum(1 for r in frames if r.recv_ns > lifted_ns):,} received after the limit was lifted"
    )


async def test_a_connection_paused_for_a_full_disk_is_not_taken_for_stalled(tmp_path: Path) -> None:
    clock = ScaledClock(int(MIDDAY.timestamp() * 1e9), speed=1.0)  # kospi trades: silence would count
    disk = FillingDisk()
    journal_settings = JournalSettings(max_pending_bytes=300_000, retry_base_s=0.05, retry_cap_s=0.2)
    settings = sim_settings(start=None, limits=VenueLimits(rest_rate_scale=20))
    async with (
        Simulator(settings, clock=clock) as sim,
        rest_client(sim_config(sim, tmp_path, {}), CREDENTIALS, clock) as client,
    ):

        async def token(_key: int) -> str:
            return (await client.token()).access_token

        symbols = [i.symbol for i in sim.universe.instruments["kospi"][:20]]
        journal = await Journal.open(
            tmp_path, "w00", settings=journal_settings, clock=clock, file_ops=disk.ops()
        )
        worker = Worker(
            ws_url=sim.ws_url,
            token=token,
            journal=journal,
            groups=[[Registration("kospi", "book", "H1_", s) for s in symbols]],
            clock=clock,
            settings=WorkerSettings(stall_s=1.0, registrations_per_s=80),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        (conn,) = worker.stats
        await wait_until(lambda: conn.accepted == 20 and conn.frames > 500)
        disk.room = 0  # the disk is full
        await wait_until(lambda: journal.backlogged)
        checks, frames = conn.liveness_checks, conn.frames
        await wait_until(lambda: conn.liveness_checks >= checks + 12)  # three stall periods
        assert conn.frames - frames < 500, "the connection stopped reading"
        assert conn.stalls == 0 and conn.reconnects == 0, "paused on purpose is not stalled"
        disk.room = None  # space returns
        await wait_until(lambda: not journal.backlogged and conn.frames > frames + 2000)
        stop.set()
        await task
        await journal.close()
    records = list(iter_records(tmp_path / "journal"))
    assert [r.seq for r in records] == list(range(len(records)))
    assert not any(b'"event":"stalled"' in r.payload for r in records if r.kind == Kind.EVENT)
    assert sum(1 for r in records if r.kind == Kind.FRAME) == conn.frames
    assert verify(tmp_path / "journal").ok
