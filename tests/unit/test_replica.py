"""A sink's journal replica (capture.replica): the blocks a publisher sends, kept in the collector's
layout: every record once, in the same day directories, through copies, a torn tail, an overlapping
block and a hole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import zstandard

from gatherer.capture import Block, Journal, JournalSettings, Kind, SegmentScanner, iter_records, verify
from gatherer.capture.replica import Replica
from gatherer.capture.segment import encode_block, encode_record
from gatherer.capture.writer import worker_segments
from gatherer.clock import SEOUL, ManualClock
from gatherer.run.publish import BlockTail

BEFORE_CUTOFF = int(dt.datetime(2026, 11, 25, 7, 29, 50, tzinfo=SEOUL).timestamp() * 1e9)
"""Ten seconds before the journal's 07:30 cutoff: the records cross into the next trading day."""


async def journal(root: Path, n: int) -> None:
    clock = ManualClock(BEFORE_CUTOFF)
    j = await Journal.open(root, "w00", settings=JournalSettings(block_bytes=2000), clock=clock)
    for i in range(n):
        clock.advance(20 / n)
        j.append(Kind.FRAME, "w00-c000", b'{"header":{"tr_cd":"S3_","tr_key":"005930"},"body":{"n":%d}}' % i)
    await j.close()


def blocks_of(root: Path) -> list[tuple[bytes, Block]]:
    """Each block of w00's journal as a publisher sends it: its bytes, and as the sink scans them."""
    tail = BlockTail(root, "w00", start_seq=0)
    out = []
    while polled := tail.poll():
        for raw in polled:
            (block,) = SegmentScanner(expect_header=False).feed(raw.data)
            assert isinstance(block, Block)
            out.append((raw.data, block))
    tail.close()
    return out


def day_dirs(root: Path, name: str) -> list[str]:
    return [p.parent.name for _n, p in worker_segments(root, name)]


async def test_the_replica_holds_the_journal_once_in_its_days_through_copies_and_a_torn_tail(
    tmp_path: Path,
) -> None:
    source, sink = tmp_path / "collector", tmp_path / "sink"
    await journal(source, 600)
    blocks = blocks_of(source)
    assert len(blocks) > 10
    clock = ManualClock(BEFORE_CUTOFF)
    replica = Replica.open(sink, "c1.w00", clock)
    half = len(blocks) // 2
    for data, block in blocks[: half + 1]:
        replica.append(data, block)
    for data, block in blocks[:half]:  # delivered again (a restarted publisher, a crashed sink)
        replica.append(data, block)
    replica.sync()
    replica.close()
    days = replica.days
    _n, last = worker_segments(sink, "c1.w00")[-1]
    last.write_bytes(last.read_bytes() + blocks[half + 1][0][:40])  # a block cut short by a kill
    assert not verify(sink / "journal").ok

    replica = Replica.open(sink, "c1.w00", clock)  # the torn tail is truncated
    assert replica.next_seq == blocks[half][1].end_seq
    for data, block in blocks:
        replica.append(data, block)
    replica.sync()
    replica.close()

    assert list(iter_records(sink / "journal")) == list(iter_records(source / "journal"))
    assert verify(sink / "journal").ok
    assert set(day_dirs(sink, "c1.w00")) == set(day_dirs(source, "w00"))
    assert len(set(day_dirs(source, "w00"))) == 2  # the journal crossed the cutoff
    assert days | replica.days == {dt.date(2026, 11, 24), dt.date(2026, 11, 25)}  # the ledgers due


async def test_an_overlapping_block_adds_only_its_new_records_and_a_hole_starts_a_segment(
    tmp_path: Path,
) -> None:
    source, sink = tmp_path / "collector", tmp_path / "sink"
    await journal(source, 300)
    blocks = blocks_of(source)
    records = [r for _d, b in blocks for r in (b.records or ())]
    replica = Replica.open(sink, "c1.w00", ManualClock(BEFORE_CUTOFF))
    replica.append(*blocks[0])
    first_end = blocks[0][1].end_seq
    # One block over records 2..first_end+4: it overlaps what the replica has (a packing it never gets
    # from a publisher, whose blocks keep their boundaries).
    overlap = records[2 : first_end + 5]
    raw = b"".join(encode_record(r.kind, r.conn_id.encode(), r.recv_ns, r.payload) for r in overlap)
    data = encode_block(raw, len(overlap), overlap[0].seq, zstandard.ZstdCompressor())
    (block,) = SegmentScanner(expect_header=False).feed(data)
    assert isinstance(block, Block)
    replica.append(data, block)
    assert replica.next_seq == first_end + 5 and replica.holes == 0
    later = next(b for b in blocks if b[1].first_seq > first_end + 5)
    replica.append(*later)  # records first_end+5 .. later-1 never came
    replica.sync()
    replica.close()
    got = list(iter_records(sink / "journal"))
    assert [r.seq for r in got] == [*range(first_end + 5), *range(later[1].first_seq, later[1].end_seq)]
    assert got == [r for r in records if r.seq in {g.seq for g in got}]
    assert replica.holes == 1 and len(worker_segments(sink, "c1.w00")) == 2
    assert verify(sink / "journal").ok
