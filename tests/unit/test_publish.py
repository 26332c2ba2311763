"""The publisher's side of the bus, without a server: whole journal blocks read back as they are on
disk, packed into messages that decode to the same records, from any start seq, past damage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gatherer.capture import Block, Journal, JournalSettings, Kind, Record, SegmentScanner, iter_records
from gatherer.clock import SEOUL, ManualClock
from gatherer.run.publish import BlockTail, RawBlock, pack

START = int(dt.datetime(2026, 11, 25, 10, 0, tzinfo=SEOUL).timestamp() * 1e9)


async def journal(root: Path, n: int) -> None:
    j = await Journal.open(root, "w00", settings=JournalSettings(block_bytes=2000), clock=ManualClock(START))
    for i in range(n):
        j.append(Kind.FRAME, "w00-c000", b'{"header":{"tr_cd":"S3_","tr_key":"005930"},"body":{"n":%d}}' % i,
                 START + i)  # fmt: skip
    await j.close()


def blocks_of(root: Path, start_seq: int = 0) -> list[tuple[int, int, bytes]]:
    tail = BlockTail(root, "w00", start_seq=start_seq)
    out = []
    while polled := tail.poll():
        out += [(b.first_seq, b.count, b.data) for b in polled]
    tail.close()
    return out


def decode(data: bytes) -> list[Record]:
    scanner = SegmentScanner(expect_header=False)
    items = [*scanner.feed(data), *scanner.finish()]
    assert all(isinstance(i, Block) for i in items), items
    return [r for i in items if isinstance(i, Block) and i.records for r in i.records]


async def test_messages_carry_every_record_in_order_as_journaled(tmp_path: Path) -> None:
    await journal(tmp_path, 500)
    blocks = blocks_of(tmp_path)
    assert len(blocks) > 10  # small blocks: several per message
    messages = pack([_raw(b) for b in blocks], batch_frames=50, batch_bytes=1 << 20)
    assert all(m.last_seq - m.first_seq + 1 >= 50 for m in messages[:-1])
    records = [r for m in messages for r in decode(m.data)]
    assert records == list(iter_records(tmp_path / "journal"))
    assert [(m.first_seq, m.last_seq) for m in messages] == [
        (rs[0].seq, rs[-1].seq) for rs in (decode(m.data) for m in messages)
    ]


async def test_batch_bytes_bounds_a_message_but_never_splits_a_block(tmp_path: Path) -> None:
    await journal(tmp_path, 300)
    blocks = [_raw(b) for b in blocks_of(tmp_path)]
    biggest = max(len(b.data) for b in blocks)
    messages = pack(blocks, batch_frames=10_000, batch_bytes=biggest)
    assert len(messages) == len(blocks)
    assert all(len(m.data) <= biggest for m in messages)


async def test_a_restart_starts_at_the_block_holding_its_start_seq(tmp_path: Path) -> None:
    await journal(tmp_path, 400)
    everything = blocks_of(tmp_path)
    first, count, _ = everything[5]
    later = blocks_of(tmp_path, start_seq=first + count // 2)
    assert later == everything[5:]


async def test_damaged_bytes_are_skipped_and_counted_and_what_follows_is_sent(tmp_path: Path) -> None:
    await journal(tmp_path, 400)
    (segment,) = (tmp_path / "journal").rglob("*.journal")
    everything = blocks_of(tmp_path)
    data = bytearray(segment.read_bytes())
    at = data.find(everything[3][2])
    data[at + 2] ^= 0xFF  # the fourth block's header
    segment.write_bytes(bytes(data))
    tail = BlockTail(tmp_path, "w00")
    got = tail.poll()
    tail.close()
    assert [b.first_seq for b in got] == [b[0] for b in everything if b[0] != everything[3][0]]
    assert tail.damaged == 1


def _raw(b: tuple[int, int, bytes]) -> RawBlock:
    return RawBlock(*b)
