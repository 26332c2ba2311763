"""A worker killed with SIGKILL mid-burst loses nothing it had reported durable."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gatherer.capture import (
    Block,
    Journal,
    Kind,
    iter_records,
    list_segments,
    recover_segment,
    scan_file,
    verify,
)

T0 = 1_795_000_000_000_000_000


def payload_of(seq: int) -> bytes:
    """The child writes this for record ``seq``; the parent checks it byte for byte."""
    head = b'{"header":{"tr_cd":"S3_","tr_key":"%06d"},"body":{"seq":"%d","pad":"' % (seq % 997, seq)
    return head + bytes([97 + seq % 26]) * (seq * 7919 % 1500) + b'"}'


CHILD_MAIN = textwrap.dedent(
    """
    import asyncio, sys
    from gatherer.capture import Journal, JournalSettings, Kind
    T0 = T0_VALUE

    async def main() -> None:
        settings = JournalSettings(commit_interval_s=0.002, block_bytes=64 * 1024, max_pending_bytes=1 << 20)
        journal = await Journal.open(sys.argv[1], "w07", settings=settings)
        waiters = set()

        async def report(seq: int) -> None:
            await journal.wait_durable(seq)
            sys.stdout.write(f"{seq}\\n")
            sys.stdout.flush()

        while True:  # bursts of appends, never pausing for durability
            for _ in range(200):
                seq = journal.next_seq
                journal.append(Kind.FRAME, "w07-c001", payload_of(seq), T0 + seq)
            task = asyncio.create_task(report(seq))
            waiters.add(task)
            task.add_done_callback(waiters.discard)
            if journal.backlogged:  # what a worker does: stop reading until the disk catches up
                await journal.wait_writable()
            else:
                await asyncio.sleep(0)

    asyncio.run(main())
    """
)
CHILD = CHILD_MAIN.replace("T0_VALUE", str(T0)).replace(
    "asyncio.run(", inspect.getsource(payload_of) + "\nasyncio.run("
)


def _tear_after_durable(segment: Path, durable: int) -> int:
    """Cut the file inside the first block past ``durable``, as a power cut may leave unsynced pages."""
    later = [b for b in scan_file(segment) if isinstance(b, Block) and b.first_seq > durable]
    if not later:
        return 0
    cut = later[0].offset + later[0].size // 2
    with open(segment, "r+b") as f:
        f.truncate(cut)
    return cut


@pytest.mark.parametrize(("reports_before_kill", "tear_unsynced"), [(3, False), (40, False), (40, True)])
def test_kill9_mid_burst_loses_nothing_durable(
    tmp_path: Path, reports_before_kill: int, tear_unsynced: bool
) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, env=env, cwd=repo
    )
    assert child.stdout is not None
    durable = -1
    try:
        for _ in range(reports_before_kill):
            line = child.stdout.readline()
            assert line, f"child exited early with {child.wait()}"
            durable = max(durable, int(line))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert durable > 0

    (segment,) = list_segments(tmp_path)
    cut = _tear_after_durable(segment, durable) if tear_unsynced else 0
    report = recover_segment(segment)
    if cut:
        assert report.truncated_bytes > 0 and report.size_after < cut
    print(f"durable {durable}, recovered {report.end_seq}, torn {report.truncated_bytes} bytes", end=" ")
    assert report.corrupt == ()
    assert report.end_seq > durable
    records = list(iter_records(tmp_path))
    assert [r.seq for r in records] == list(range(len(records)))
    for r in records:
        assert r.payload == payload_of(r.seq) and r.recv_ns == T0 + r.seq and r.conn_id == "w07-c001"
    assert verify(tmp_path).ok  # the tail (if torn) was repaired

    async def next_run() -> int:  # appends after the survivors
        async with Journal(tmp_path, "w07") as journal:
            return journal.append(Kind.EVENT, "w07-c001", b'{"event":"restart"}', T0)

    nxt = asyncio.run(next_run())
    assert nxt == len(records)
    after = list(iter_records(tmp_path))
    assert after[:-1] == records and after[-1].seq == nxt
    assert [s.name for s in list_segments(tmp_path)] == ["w07-000001.journal", "w07-000002.journal"]
