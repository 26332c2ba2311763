"""The journal over NATS JetStream into a lake on another root: `gatherer run` with a `[bus]` table
publishes, `gatherer sink` writes rows equal to the local store's, a journal replica holding the
collector's records each once and the same day's ledger, through kill -9 of the publisher and of the
sink, and through a bus that is down at the start and for a stretch mid-run."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gatherer.capture import Kind, iter_records
from gatherer.run.merge import read_sides
from gatherer.run.publish import read_checkpoint
from gatherer.run.sink import read_state
from gatherer.run.store import JournalTail
from gatherer.sim.server import Simulator
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.envelope import frame_stream

from ..conftest import Reap, sim_settings
from ..helpers.lake import compare_days
from ..helpers.nats import NatsServer, cluster_of, free_port, start_server, stream_last_seq, stream_leader
from ..helpers.procs import ENV, children, gone, proc_file, start_run, wait_recording
from ..helpers.replica import assert_same_journal, assert_same_ledger, journal_verify
from ..helpers.waiting import wait_until


@pytest.fixture
async def fast_sim() -> AsyncIterator[Simulator]:
    """A busier simulator than the shared one: the thresholds of one collector are reached sooner."""
    async with Simulator(sim_settings(stream=StreamSettings(rate_fps=10_000.0))) as s:
        yield s


@pytest.fixture
async def servers() -> AsyncIterator[list[NatsServer]]:
    """The NATS servers a test starts: whatever still runs at its end is killed by pid and reaped."""
    started: list[NatsServer] = []
    yield started
    for server in started:
        if server.proc is not None:
            await server.kill()


def bus_config(sim: Simulator, root: Path, url: str, replicas: int = 1) -> Path:
    path = root / "gatherer.toml"
    path.write_text(
        f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
registrations_per_s = 80
rest_rate_scale = 20

[storage]
root = "{root / "lake"}"

[bus]
url = "{url}"
collector = "c1"
drain_s = 20
max_bytes = 268435456
replicas = {replicas}

[markets.kospi]
max_symbols = 12

[markets.ofutures]
max_symbols = 6
""",
        encoding="utf-8",
    )
    return path


BUS_TOKEN = "bus-token-for-the-test-0123"
AUTH_ENV = {**ENV, "GATHERER_BUS_TOKEN": BUS_TOKEN}
"""The collector's and the sink's environment against a server that wants a token."""


async def start_sink(
    reap: Reap, sim: Simulator, url: str, root: Path, *flags: str
) -> asyncio.subprocess.Process:
    assert sim.clock_spec is not None
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "sink", "--bus", url, "--root", str(root), "--durable", "t",
        "--flush-s", "0.3", "--clock", sim.clock_spec, *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=AUTH_ENV, start_new_session=True,
    )  # fmt: skip
    reap(proc.pid)
    return proc


def publishers(pid: int) -> list[int]:
    return [c for c in children(pid) if not gone(c) and b"_publish" in proc_file(c, "cmdline")]


def days(root: Path) -> list[dt.date]:
    return sorted(dt.date.fromisoformat(p.name[5:]) for p in (root / "parquet").iterdir())


async def finish(run: asyncio.subprocess.Process) -> None:
    run.send_signal(signal.SIGINT)
    _out, err = await asyncio.wait_for(run.communicate(), 90)
    assert run.returncode == 0, err.decode()[-2000:]


async def sink_caught_up(
    sink: asyncio.subprocess.Process, url: str, root: Path, token: str | None = None
) -> str:
    """Wait until the sink's checkpoint reaches the stream's end, stop it, return its report."""
    last = await stream_last_seq(url, token=token)
    await wait_until(lambda: (read_state(root, "t") or 0) >= last, 60)
    sink.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(sink.communicate(), 30)
    assert sink.returncode == 0, err.decode()[-2000:]
    report = json.loads(out.decode().strip().splitlines()[-1])
    # The person at the terminal gets the same figures in words on stderr.
    assert f"{report['records']:,} record(s) stored from {report['messages']:,} message(s)" in err.decode()
    return out.decode()


def assert_same_lake(local: Path, remote: Path) -> None:
    assert days(local) and days(local) == days(remote)
    for day in days(local):
        assert compare_days(local, remote, day) == []
    assert {p.name.split("-")[0] for p in (remote / "parquet").rglob("*.parquet")} == {"c1.w00"}
    masters = {side: {p.relative_to(side): p.read_bytes() for p in side.glob("masters/date=*/*.parquet")}
               for side in (local, remote)}  # fmt: skip
    assert masters[local] and masters[local] == masters[remote]


async def assert_same_journal_and_ledger(local: Path, remote: Path, report: str) -> None:
    """The sink's replica is the collector's journal (nothing lost, nothing doubled), `gatherer journal
    verify` passes on it, and the ledger the sink wrote as it stopped says what the collector's says."""
    assert_same_journal(local, remote)
    verified = await journal_verify(remote)
    assert " records, " in verified and "damaged" not in verified
    ledger_days = sorted(p.name[5:] for p in (local / "ledger").glob("date=*"))
    assert ledger_days and '"ledgers": 0' not in report
    for day in ledger_days:
        assert_same_ledger(local, remote, dt.date.fromisoformat(day))


async def test_bus_down_kill_9_and_back_the_sink_writes_the_local_rows(
    tmp_path: Path, fast_sim: Simulator, reap: Reap, servers: list[NatsServer]
) -> None:
    sim = fast_sim
    server = NatsServer("n1", free_port(), tmp_path / "js", tmp_path / "n1.conf", reap, token=BUS_TOKEN)
    servers.append(server)
    server.write_conf()
    config = bus_config(sim, tmp_path, server.url)
    lake, remote = tmp_path / "lake", tmp_path / "remote"
    run = await start_run(reap, sim, config, env=AUTH_ENV)
    await wait_recording(run)
    journal = JournalCount(lake)
    await wait_until(lambda: journal.records() > 500, 60)  # capture goes on without a bus
    assert read_checkpoint(lake, "w00") == -1
    await server.start()  # the bus comes up after the run started: the publisher catches up
    sink = await start_sink(reap, sim, server.url, remote)
    await wait_until(lambda: read_checkpoint(lake, "w00") > journal.records() - 200, 60)
    await wait_until(lambda: (read_state(remote, "t") or 0) > 3, 30)
    (publisher,) = publishers(run.pid)
    # The publisher got the bus's token over its pipe: no secret in its environment.
    environ = proc_file(publisher, "environ")
    assert BUS_TOKEN.encode() not in environ and b"GATHERER_LS_APP" not in environ
    assert ENV["GATHERER_LS_APPSECRET"].encode() not in environ
    os.kill(publisher, signal.SIGKILL)  # mid-stream, both ends
    os.kill(sink.pid, signal.SIGKILL)
    await sink.wait()
    await wait_until(lambda: publishers(run.pid) not in ([], [publisher]), 30)  # started again
    published = read_checkpoint(lake, "w00")
    await wait_until(lambda: read_checkpoint(lake, "w00") > published + 300, 30)
    await server.kill()  # and the bus goes away for a stretch
    at_kill = journal.records()
    await wait_until(lambda: journal.records() > at_kill + 1500, 60)  # capture goes on meanwhile
    assert read_checkpoint(lake, "w00") <= at_kill  # nothing acknowledged while it is away
    await server.start()
    sink = await start_sink(reap, sim, server.url, remote)
    await wait_until(lambda: read_checkpoint(lake, "w00") > at_kill + 1500, 60)
    (publisher,) = publishers(run.pid)
    rss_kb = int(proc_file(publisher, "status").decode().split("VmHWM:")[1].split()[0])
    assert rss_kb < 300_000  # a poll and the messages in flight, not the backlog
    await finish(run)
    journal.close()
    report = await sink_caught_up(sink, server.url, remote, token=BUS_TOKEN)
    assert '"seq_holes": 0' in report and '"damaged": 0' in report
    assert_same_lake(lake, remote)
    await assert_same_journal_and_ledger(lake, remote, report)


class JournalCount:
    """Records of w00's journal so far (followed as it grows)."""

    def __init__(self, root: Path) -> None:
        self.tail = JournalTail(root, "w00")
        self.seen = 0

    def records(self) -> int:
        if (self.tail._root / "journal").exists():
            while polled := self.tail.poll():  # a poll returns a slice of a backlog: read to the end
                self.seen += len(polled)
        return self.seen

    def close(self) -> None:
        self.tail.close()


async def test_a_three_node_cluster_loses_a_server_mid_stream_and_gets_it_back(
    tmp_path: Path, fast_sim: Simulator, reap: Reap, servers: list[NatsServer]
) -> None:
    sim = fast_sim
    servers += cluster_of(tmp_path, reap)
    await asyncio.gather(*(s.start() for s in servers))
    urls = ",".join(s.url for s in servers)
    config = bus_config(sim, tmp_path, urls, replicas=3)
    lake, remote = tmp_path / "lake", tmp_path / "remote"
    run = await start_run(reap, sim, config)
    await wait_recording(run)
    await wait_until(lambda: read_checkpoint(lake, "w00") > 500, 60)
    (publisher,) = publishers(run.pid)
    (leader,) = [s for s in servers if s.name == await stream_leader(urls)]
    await leader.kill()  # the stream's leader: the other two elect another and go on
    at_kill = read_checkpoint(lake, "w00")
    await wait_until(lambda: read_checkpoint(lake, "w00") > at_kill + 1000, 60)  # on the other two
    await leader.start()
    back = read_checkpoint(lake, "w00")
    await wait_until(lambda: read_checkpoint(lake, "w00") > back + 500, 60)
    assert publishers(run.pid) == [publisher]  # resumed without a restart
    await finish(run)
    sink = await start_sink(reap, sim, urls, remote)
    report = await sink_caught_up(sink, urls, remote)
    assert_same_lake(lake, remote)
    await assert_same_journal_and_ledger(lake, remote, report)


async def test_ab_collectors_merge_into_one_day_with_each_frame_once(
    tmp_path: Path, sim: Simulator, reap: Reap, servers: list[NatsServer]
) -> None:
    server = await start_server(tmp_path, reap)
    servers.append(server)
    lakes, configs = {}, {}
    for side in ("A", "B"):
        (tmp_path / side).mkdir()
        text = bus_config(sim, tmp_path / side, server.url).read_text().replace('"c1"', f'"{side}"')
        text += "\n[backfill]\nenabled = false\n"  # the drops' volume gaps: no REST pass at the stop
        configs[side] = tmp_path / side / "gatherer.toml"
        configs[side].write_text(text)
        lakes[side] = tmp_path / side / "lake"
    run_a = await start_run(reap, sim, configs["A"])
    await wait_recording(run_a)
    await wait_until(lambda: read_checkpoint(lakes["A"], "w00") > 800, 60)
    run_b = await start_collector(reap, sim, configs["B"], "other-appkey")  # another app key
    await wait_recording(run_b)
    await wait_until(lambda: read_checkpoint(lakes["B"], "w00") > 800, 60)
    merged = tmp_path / "merged"
    overlap = await stream_last_seq(server.url)  # both sides publish from here on
    sink = await start_sink(reap, sim, server.url, merged, "--merge")
    await wait_until(lambda: (read_state(merged, "t") or 0) > overlap + 20, 30)
    os.kill(sink.pid, signal.SIGKILL)  # mid-overlap: the merge state must come back as checkpointed
    await sink.wait()
    # B's connections drop while A streams (B's dark stretches are covered), then everyone's at once.
    drops = [sim.clock.time_ns()]
    await drop_connections(sim, lakes, {"other-appkey"})
    drops.append(sim.clock.time_ns())
    await drop_connections(sim, lakes, None)
    await finish(run_a)  # A's outage: B alone from here
    b_alone = read_checkpoint(lakes["B"], "w00")
    await wait_until(lambda: read_checkpoint(lakes["B"], "w00") > b_alone + 800, 60)
    await finish(run_b)
    sink = await start_sink(reap, sim, server.url, merged, "--merge")
    report = await sink_caught_up(sink, server.url, merged)
    assert '"dropped": 0' not in report  # the overlap's copies were found
    # Every venue frame once: the n-th copy of the same bytes on a stream, from whichever side had it.
    journals = {side: data_frames(lake) for side, lake in lakes.items()}
    want: Counter[tuple[bytes, bytes]] = Counter()
    for side in ("A", "B"):
        want |= Counter((frame_stream(p) or b"", p) for p in journals[side].values())
    got: Counter[tuple[bytes, bytes]] = Counter()
    for side, seq in stored_rows(merged):
        p = journals[side][seq]
        got[(frame_stream(p) or b"", p)] += 1
    assert got == want
    assert sum(want.values()) < sum(len(j) for j in journals.values())  # the sides did overlap
    # The ledger of sides: most streams begin with A (B not there yet), all end with B (A stopped).
    (day,) = days(merged)
    by_stream: dict[str, list[str]] = {}
    for stretch in read_sides(merged, day.isoformat(), "t"):
        by_stream.setdefault(str(stretch["stream"]), []).append(str(stretch["side"]))
    assert by_stream and {s for sides in by_stream.values() for s in sides} == {"A", "B"}
    assert sum(sides[0] == "A" for sides in by_stream.values()) > len(by_stream) // 2
    assert sum(sides[-1] == "B" for sides in by_stream.values()) > len(by_stream) // 2
    assert_merged_ledger(lakes, merged, drops)


async def start_collector(
    reap: Reap, sim: Simulator, config: Path, appkey: str
) -> asyncio.subprocess.Process:
    """`gatherer run` with an app key of its own."""
    assert sim.clock_spec is not None
    env = {**ENV, "GATHERER_LS_APPKEY": appkey, "GATHERER_LS_APPSECRET": appkey + "-secret"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "run", "--config", str(config), "--clock", sim.clock_spec,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    reap(proc.pid)
    return proc


async def drop_connections(sim: Simulator, lakes: dict[str, Path], appkeys: set[str] | None) -> None:
    """Cut the connections of ``appkeys`` (None: all) as a network failure would; wait until they are
    back with every registration and every side published 300 records more."""
    marks = {side: read_checkpoint(lake, "w00") for side, lake in lakes.items()}
    registered = sim.hub.registrations_total()
    cut = [c for c, conn in sim.hub.connections.items() if appkeys is None or conn.appkey in appkeys]
    assert cut and all(sim.hub.drop(c) for c in cut)
    await wait_until(
        lambda: not set(cut) & set(sim.hub.connections) and sim.hub.registrations_total() >= registered, 60
    )
    for side, lake in lakes.items():
        await wait_until(lambda lake=lake, side=side: read_checkpoint(lake, "w00") > marks[side] + 300, 60)


def ledger_file(root: Path, day: str, name: str) -> list[dict[str, Any]]:
    """One ledger file's rows, times as nanoseconds."""
    table = pq.read_table(root / "ledger" / f"date={day}" / f"{name}.parquet")
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.int64()))
    return table.to_pylist()


def assert_merged_ledger(lakes: dict[str, Path], merged: Path, drops: list[int]) -> None:
    """The merged day's ledger: a stream dark on B while A streamed it is not dark; one dark on both
    sides at once is, with each side's stretch; coverage adds up the sides."""
    (day,) = [p.name[5:] for p in (merged / "ledger").glob("date=*")]
    dark = ledger_file(merged, day, "dark")
    own = {side: ledger_file(lake, day, "dark") for side, lake in lakes.items()}
    first, both = drops
    b_first = [d for d in own["B"] if first <= d["start"] < both]
    assert len(b_first) > 5  # B's own ledger has them
    merged_first = [d for d in dark if first <= d["start"] < both]
    assert all(d["conn_id"].startswith("B.") for d in merged_first)
    assert len(merged_first) < len(b_first) // 2  # A streamed through most of them
    for side in ("A", "B"):
        own_both = [d for d in own[side] if d["start"] >= both]
        merged_both = [d for d in dark if d["start"] >= both and d["conn_id"].startswith(f"{side}.")]
        assert own_both and len(merged_both) == len(own_both)
    outages = [g for g in ledger_file(merged, day, "gaps") if g["kind"] == "outage" and g["start"] >= both]
    assert {g["conn_id"].split(".")[0] for g in outages} == {"A", "B"}
    frames = [sum(r["frames"] for r in ledger_file(root, day, "coverage")) for root in lakes.values()]
    assert sum(r["frames"] for r in ledger_file(merged, day, "coverage")) == sum(frames)


def data_frames(root: Path) -> dict[int, bytes]:
    return {r.seq: r.payload for r in iter_records(root / "journal") if r.kind == Kind.FRAME
            and frame_stream(r.payload) is not None}  # fmt: skip


def stored_rows(root: Path) -> list[tuple[str, int]]:
    """(side, seq) of every row under ``root``: the side is the collector its store is named after."""
    out = []
    for path in sorted((root / "parquet").rglob("*.parquet")):
        side = path.name.split(".")[0]
        out += [(side, seq) for seq in pq.read_table(path, columns=["seq"])["seq"].to_pylist()]
    return out
