"""The decode-and-store process is exactly once across crashes: a restart removes what was
written after the last checkpoint and decodes it again from the journal."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import msgspec
import pyarrow.dataset as ds

from gatherer.capture import Journal, Kind
from gatherer.clock import SEOUL, ManualClock
from gatherer.run.store import JournalTail, Store, follow, read_checkpoint
from gatherer.sim.market import MarketModel
from gatherer.sim.universe import build_universe
from gatherer.venues.ls.keys import format_tr_key


async def write_journal(root: Path, n: int) -> int:
    start = dt.datetime(2026, 11, 25, 10, 0, tzinfo=SEOUL)
    universe = build_universe(0, as_of=start.date())
    model = MarketModel((i for i in universe.instruments["kospi"][:20]), random.Random(1))
    now = int(start.timestamp() * 1e9)
    journal = await Journal.open(root, "w00", clock=ManualClock(now))
    frames = 0
    while frames < n:
        now += 1_000_000
        inst = universe.instruments["kospi"][frames % 20]
        for tr_cd, body in model.events("kospi", inst.symbol, now, {"H1_", "S3_"}):
            header = {"tr_cd": tr_cd, "tr_key": format_tr_key(tr_cd, inst.symbol)}
            journal.append(Kind.FRAME, "w00-c000", msgspec.json.encode({"header": header, "body": body}), now)
            frames += 1
    journal.append(Kind.FRAME, "w00-c000", b'{"header": {"tr_cd": "H1_"}, "body": "broken"}', now + 1)
    await journal.close()
    return frames


def stored_seqs(root: Path) -> list[int]:
    files = sorted(str(p) for p in (root / "parquet").rglob("*.parquet"))
    seqs: list[int] = ds.dataset(files, format="parquet").to_table(columns=["seq"]).column("seq").to_pylist()
    return seqs


async def test_a_store_killed_after_its_checkpoint_resumes_exactly_once(tmp_path: Path) -> None:
    frames = await write_journal(tmp_path, 6000)
    # First life: decode part of the journal, checkpoint, decode more and write it, then "die".
    store, first = Store.resume(tmp_path, "w00", version="t", venue="t")
    tail = JournalTail(tmp_path, "w00", start_seq=first)
    records = tail.poll()
    tail.close()
    store.add(records[:2500])
    store.checkpoint()
    assert read_checkpoint(tmp_path, "w00") == records[2499].seq
    store.add(records[2500:4000])
    store.flush_without_checkpoint()  # rows written to Parquet, then a crash before the next checkpoint
    assert len(stored_seqs(tmp_path)) > 2500
    # Second life: resume removes what came after the checkpoint and decodes from there.
    again, start = Store.resume(tmp_path, "w00", version="t", venue="t")
    assert start == 2500
    assert sorted(stored_seqs(tmp_path)) == list(range(2500))
    follow(JournalTail(tmp_path, "w00", start_seq=start), again, stop_requested=iter(lambda: True, False))
    seqs = stored_seqs(tmp_path)
    assert sorted(seqs) == list(range(frames))  # every frame once; the broken one is quarantined
    assert again.stats.quarantined == 1


async def test_a_second_store_of_one_worker_waits_for_the_first_to_finish(tmp_path: Path) -> None:
    """A killed worker's store drains on while the restarted worker starts a new one: never two writers."""
    import asyncio
    import sys

    from gatherer.run.store import exclusive

    frames = await write_journal(tmp_path, 2000)
    with exclusive(tmp_path, "w00"):  # the previous store, still draining
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gatherer", "_store", "--root", str(tmp_path), "--worker", "w00",
            "--venue", "test", "--cutoffs", "{}", "--flush-s", "300",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stderr is not None and proc.stdout is not None
        proc.stdin.close()  # its parent is done at once: it must still wait, then drain
        said = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert b"waiting for the previous decode-and-store process" in said
        assert proc.returncode is None and read_checkpoint(tmp_path, "w00") == -1
    out = await asyncio.wait_for(proc.stdout.read(), 60)
    assert await proc.wait() == 0
    assert msgspec.json.decode(out.strip().splitlines()[-1])["records"] == frames + 1
    assert sorted(stored_seqs(tmp_path)) == list(range(frames))
