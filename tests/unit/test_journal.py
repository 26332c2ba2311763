"""The journal: format round trips, group commit, rotation, recovery, reading, retention."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatherer.capture import (
    Block,
    Corrupt,
    Journal,
    JournalFailed,
    JournalSettings,
    Kind,
    Record,
    SegmentHeader,
    SegmentScanner,
    TornTail,
    iter_records,
    list_segments,
    prune_journal,
    recover_segment,
    scan_file,
    verify,
)
from gatherer.capture.segment import encode_block, encode_record, encode_segment_header
from gatherer.clock import ManualClock, seoul_ns

from ..helpers.disk import FillingDisk

T0 = seoul_ns(dt.date(2026, 11, 25), dt.time(10, 0))

records_st = st.lists(
    st.tuples(
        st.sampled_from(list(Kind)),
        st.text(min_size=1, max_size=12),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.binary(max_size=300),
    ),
    max_size=60,
)


def _segment_bytes(recs: list[tuple[Kind, str, int, bytes]], first_seq: int, per_block: int) -> bytes:
    cz = zstandard.ZstdCompressor()
    out = [encode_segment_header("w00", 1, first_seq, T0)]
    seq = first_seq
    for i in range(0, len(recs), per_block):
        group = recs[i : i + per_block]
        raw = b"".join(encode_record(k, c.encode(), ns, p) for k, c, ns, p in group)
        out.append(encode_block(raw, len(group), seq, cz))
        seq += len(group)
    return b"".join(out)


@given(
    recs=records_st,
    first_seq=st.integers(min_value=0, max_value=2**40),
    per_block=st.integers(min_value=1, max_value=7),
    cuts=st.lists(st.integers(min_value=0, max_value=100_000), max_size=20),
)
def test_scanner_round_trips_at_any_chunk_boundaries(
    recs: list[tuple[Kind, str, int, bytes]], first_seq: int, per_block: int, cuts: list[int]
) -> None:
    data = _segment_bytes(recs, first_seq, per_block)
    scanner = SegmentScanner()
    items = []
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(bounds):
        items += scanner.feed(data[a:b])
    items += scanner.finish()
    assert isinstance(items[0], SegmentHeader) and items[0].first_seq == first_seq
    assert all(isinstance(i, Block) for i in items[1:])
    got = [r for i in items[1:] if isinstance(i, Block) and i.records for r in i.records]
    want = [Record(k, first_seq + n, ns, c, p) for n, (k, c, ns, p) in enumerate(recs)]
    assert got == want
    assert scanner.pending == 0 and scanner.offset == len(data)


async def test_journal_round_trip_of_many_records(tmp_path: Path) -> None:
    rng = random.Random(7)
    want = []
    async with Journal(tmp_path, "w00", settings=JournalSettings(block_bytes=16_384)) as journal:
        for i in range(5000):
            kind = rng.choice(list(Kind))
            conn = f"w00-c{rng.randrange(20):03d}"
            payload = rng.randbytes(rng.randrange(0, 2000))
            ns = T0 + i
            assert journal.append(kind, conn, payload, ns) == i
            want.append(Record(kind, i, ns, conn, payload))
            if i % 500 == 0:
                await asyncio.sleep(0)  # let the flusher interleave with appends, as in a live worker
    assert list(iter_records(tmp_path)) == want
    report = verify(tmp_path)
    assert report.ok and report.records == 5000 and report.segments == 1


async def test_wait_durable_means_a_fresh_reader_sees_the_bytes(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path, "w00", settings=JournalSettings(commit_interval_s=0.01))
    try:
        assert journal.durable_seq == -1
        payloads = [b"frame %d" % i for i in range(100)]
        seqs = [journal.append(Kind.FRAME, "w00-c001", p, T0 + i) for i, p in enumerate(payloads)]
        await journal.wait_durable(seqs[-1])  # the timer, not a flush(), made it durable
        assert journal.durable_seq >= seqs[-1]
        got = [r.payload for r in iter_records(tmp_path)]
        assert got == payloads
    finally:
        await journal.close()


async def test_nothing_is_written_before_the_interval_and_flush_forces_it(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path, "w00", settings=JournalSettings(commit_interval_s=3600))
    try:
        seq = journal.append(Kind.EVENT, "w00-c001", b'{"event":"connect"}', T0)
        await asyncio.sleep(0)
        assert journal.durable_seq < seq and list(iter_records(tmp_path)) == []
        await journal.flush()
        assert journal.durable_seq == seq
        assert [r.payload for r in iter_records(tmp_path)] == [b'{"event":"connect"}']
    finally:
        await journal.close()
    with pytest.raises(RuntimeError):
        journal.append(Kind.FRAME, "w00-c001", b"late", T0)


async def test_backlog_is_signalled_and_clears_once_written(tmp_path: Path) -> None:
    cfg = JournalSettings(commit_interval_s=3600, max_pending_bytes=10_000, block_bytes=1 << 30)
    journal = await Journal.open(tmp_path, "w00", settings=cfg)
    try:
        for i in range(20):  # never refused, even far over the bound
            journal.append(Kind.FRAME, "w00-c001", bytes(1000), T0 + i)
        assert journal.backlogged
        waiter = asyncio.create_task(journal.wait_writable())
        await asyncio.sleep(0)
        assert not waiter.done()
        await journal.flush()
        await waiter
        assert not journal.backlogged and journal.pending_bytes == 0
    finally:
        await journal.close()
    assert verify(tmp_path).records == 20


async def test_segments_roll_by_size_and_numbering_continues(tmp_path: Path) -> None:
    cfg = JournalSettings(block_bytes=2_000, max_segment_bytes=6_000)
    rng = random.Random(3)
    payloads = [rng.randbytes(900) for _ in range(60)]  # random bytes do not compress
    async with Journal(tmp_path, "w00", settings=cfg) as journal:
        for i, p in enumerate(payloads):
            journal.append(Kind.FRAME, "w00-c001", p, T0 + i)
    segs = list_segments(tmp_path)
    assert len(segs) > 3
    assert [s.name for s in segs] == [f"w00-{n:06d}.journal" for n in range(1, len(segs) + 1)]
    assert all(s.stat().st_size <= cfg.max_segment_bytes for s in segs)
    got = list(iter_records(tmp_path))
    assert [r.payload for r in got] == payloads and [r.seq for r in got] == list(range(60))

    async with Journal(tmp_path, "w00", settings=cfg) as journal:  # a new run of the same worker
        assert journal.append(Kind.EVENT, "w00-c001", b"{}", T0 + 100) == 60
    after = list_segments(tmp_path)
    assert after[-1].name == f"w00-{len(segs) + 1:06d}.journal" and after[:-1] == segs


async def test_a_run_across_the_cutoff_writes_into_the_next_day(tmp_path: Path) -> None:
    clock = ManualClock(seoul_ns(dt.date(2026, 11, 25), dt.time(7, 29, 58)))
    async with Journal(tmp_path, "w01", clock=clock) as journal:
        journal.append(Kind.FRAME, "w01-c000", b"before")
        clock.advance(1.5)
        journal.append(Kind.FRAME, "w01-c000", b"just before")
        clock.advance(1.0)  # 07:30:00.5
        journal.append(Kind.FRAME, "w01-c000", b"after")
    day1 = tmp_path / "journal" / "date=2026-11-24"
    day2 = tmp_path / "journal" / "date=2026-11-25"
    assert [r.payload for r in iter_records(day1)] == [b"before", b"just before"]
    assert [(r.seq, r.payload) for r in iter_records(day2)] == [(2, b"after")]
    assert [s.name for s in list_segments(day2)] == ["w01-000002.journal"]


async def _three_blocks(tmp_path: Path) -> tuple[Path, list[Block], list[Record]]:
    cfg = JournalSettings(block_bytes=1_500)
    async with Journal(tmp_path, "w00", settings=cfg) as journal:
        for i in range(30):
            journal.append(Kind.FRAME, "w00-c002", b'{"n":%d,"pad":"%s"}' % (i, b"x" * 100), T0 + i)
    (seg,) = list_segments(tmp_path)
    blocks = [i for i in scan_file(seg) if isinstance(i, Block)]
    assert len(blocks) >= 3
    return seg, blocks, list(iter_records(seg))


async def test_torn_tail_is_truncated_and_earlier_records_survive(tmp_path: Path) -> None:
    seg, blocks, records = await _three_blocks(tmp_path)
    whole = seg.read_bytes()
    last = blocks[-1]
    survivors = [r for r in records if r.seq < last.first_seq]
    for cut in range(last.offset + 1, last.offset + last.size):
        seg.write_bytes(whole[:cut])
        report = recover_segment(seg)
        assert report.truncated_bytes == cut - last.offset, cut
        assert report.end_seq == last.first_seq and report.size_after == last.offset
        assert report.torn_records == (last.record_count if cut - last.offset >= 36 else 0)
        assert list(iter_records(seg)) == survivors
        assert verify(seg).ok
    seg.write_bytes(whole + bytes(4096))  # a crash that left zero-filled pages at the end
    report = recover_segment(seg)
    assert report.truncated_bytes == 4096 and list(iter_records(seg)) == records
    async with Journal(tmp_path, "w00") as journal:  # a new writer continues after the survivors
        assert journal.append(Kind.FRAME, "w00-c002", b"next", T0) == records[-1].seq + 1


async def test_flipped_byte_in_a_middle_block_is_reported_and_later_blocks_read(tmp_path: Path) -> None:
    seg, blocks, records = await _three_blocks(tmp_path)
    whole = seg.read_bytes()
    mid = blocks[1]
    others = [r for r in records if not mid.first_seq <= r.seq < mid.end_seq]
    for pos in range(mid.offset, mid.offset + mid.size):
        damaged = bytearray(whole)
        damaged[pos] ^= 0x40
        seg.write_bytes(damaged)
        seen = []
        assert list(iter_records(seg, on_damage=seen.append)) == others, pos
        assert [(d.offset, d.length, d.records_lost) for d in seen] == [
            (mid.offset, mid.size, mid.record_count)
        ], pos
        report = recover_segment(seg)  # mid-file damage is reported, never truncated away
        assert report.truncated_bytes == 0 and report.corrupt[0].offset == mid.offset
        assert seg.stat().st_size == len(whole)


def test_scanner_holds_an_incomplete_block_until_finish(tmp_path: Path) -> None:
    data = _segment_bytes([(Kind.FRAME, "c", 1, b"abc")] * 3, 0, 1)
    scanner = SegmentScanner()
    assert isinstance(scanner.feed(data[:-5])[-1], Block)
    assert scanner.pending > 0
    (tail,) = scanner.finish()
    assert isinstance(tail, TornTail) and tail.records_lost == 1
    resumed = SegmentScanner(expect_header=False, start_offset=tail.offset)
    (blk,) = resumed.feed(data[tail.offset :])
    assert isinstance(blk, Block) and blk.offset == tail.offset and blk.first_seq == 2


def test_garbage_between_blocks_is_skipped_with_its_offset() -> None:
    good = _segment_bytes([(Kind.SENT, "c", 5, b"x" * 50)] * 4, 10, 2)
    split = good.index(b"GJBK", 60)
    data = good[:split] + b"GJBK" + bytes(100) + good[split:]
    items = SegmentScanner().feed(data)
    corrupt = [i for i in items if isinstance(i, Corrupt)]
    assert [(c.offset, c.length, c.records_lost) for c in corrupt] == [(split, 104, 0)]
    assert sum(i.record_count for i in items if isinstance(i, Block)) == 4


def test_cat_gives_text_or_base64_and_filters_by_tr_cd(tmp_path: Path) -> None:
    from gatherer.ops.journal import cat

    recs = [
        (Kind.FRAME, "w00-c001", T0, b'{"header":{"tr_cd":"S3_","tr_key":"005930"},"body":{}}'),
        (Kind.FRAME, "w00-c001", T0 + 1, b'{"header": {"tr_cd" : "H1_"}, "body": null}'),
        (Kind.SENT, "w00-c001", T0 + 2, b"\xff\xfe binary"),
    ]
    seg = tmp_path / "journal" / "date=2026-11-25" / "w00-000001.journal"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(_segment_bytes(recs, 0, 2))
    rows = list(cat(tmp_path))
    assert [r.get("tr_cd") for r in rows] == ["S3_", "H1_", None]
    assert rows[0]["payload"].startswith('{"header"') and rows[0]["kind"] == "FRAME"
    assert rows[2]["payload_b64"] == "//4gYmluYXJ5" and "payload" not in rows[2]
    assert [r["seq"] for r in cat(tmp_path, tr="H1_")] == [1]


def test_prune_removes_only_old_verified_days(tmp_path: Path) -> None:
    for day in ("2026-11-20", "2026-11-21", "2026-11-23", "2026-11-24", "2026-11-25"):
        (tmp_path / "journal" / f"date={day}").mkdir(parents=True)
    (tmp_path / "journal" / "not-a-day").mkdir()
    report = prune_journal(tmp_path, 2, lambda d: d != dt.date(2026, 11, 21), today=dt.date(2026, 11, 25))
    assert report.removed == (dt.date(2026, 11, 20),)
    assert report.kept_unverified == (dt.date(2026, 11, 21),)
    left = sorted(p.name for p in (tmp_path / "journal").iterdir())
    assert left == ["date=2026-11-21", "date=2026-11-23", "date=2026-11-24", "date=2026-11-25", "not-a-day"]


def _ls_like_frame(rng: random.Random, n: int) -> bytes:
    """About 1 KB like an H1_ (호가) frame: a header and 10 levels of string prices and sizes."""
    base = 70_000 + rng.randrange(-50, 50) * 100
    body = {"hotime": f"{90000 + n % 60000:06d}", "shcode": "005930"}
    for lv in range(1, 11):
        body[f"offerho{lv}"] = str(base + lv * 100)
        body[f"bidho{lv}"] = str(base - lv * 100)
        body[f"offerrem{lv}"] = str(rng.randrange(1, 200_000))
        body[f"bidrem{lv}"] = str(rng.randrange(1, 200_000))
    body["totofferrem"] = str(rng.randrange(10**6))
    body["totbidrem"] = str(rng.randrange(10**6))
    text = json.dumps({"header": {"tr_cd": "H1_", "tr_key": "005930"}, "body": body}, separators=(",", ":"))
    return text.encode()


async def test_compression_of_json_like_frames(tmp_path: Path) -> None:
    rng = random.Random(11)
    frames = [_ls_like_frame(rng, n) for n in range(20_000)]
    async with Journal(tmp_path, "w00") as journal:
        for i, f in enumerate(frames):
            journal.append(Kind.FRAME, "w00-c001", f, T0 + i * 1000)
    on_disk = sum(s.stat().st_size for s in list_segments(tmp_path))
    raw = sum(len(f) for f in frames)
    per_kb = on_disk / (raw / 1024)
    print(
        f"\njournal: {on_disk / len(frames):.0f} bytes on disk per {raw / len(frames):.0f}-byte frame; "
        f"{per_kb:.0f} bytes per 1 KB of JSON (ratio {raw / on_disk:.1f}x)"
    )
    assert per_kb < 400


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records_st, block_bytes=st.integers(min_value=1, max_value=3000))
def test_writer_matches_an_in_memory_model(
    tmp_path_factory: pytest.TempPathFactory, recs: list[tuple[Kind, str, int, bytes]], block_bytes: int
) -> None:
    root = tmp_path_factory.mktemp("j")

    async def write() -> None:
        clock = ManualClock(T0)
        async with Journal(root, "w00", settings=JournalSettings(block_bytes=block_bytes), clock=clock) as j:
            for k, c, _, p in recs:
                j.append(k, c, p, T0)  # one trading day: times do not move the directory here

    asyncio.run(write())
    model = [Record(k, n, T0, c, p) for n, (k, c, _, p) in enumerate(recs)]
    assert list(iter_records(root)) == model
    shutil.rmtree(root)


async def _eventually(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def _incident_events(root: Path) -> list[tuple[int, dict[str, object]]]:
    return [
        (r.seq, json.loads(r.payload))
        for r in iter_records(root)
        if r.kind == Kind.EVENT and r.conn_id == "w00"
    ]


FAST_RETRY = {"commit_interval_s": 0.005, "retry_base_s": 0.01, "retry_cap_s": 0.04}


async def test_a_full_disk_keeps_records_in_memory_and_writes_them_in_order_when_space_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    disk = FillingDisk()
    cfg = JournalSettings(block_bytes=2_000, max_segment_bytes=7_000, max_pending_bytes=30_000, **FAST_RETRY)
    rng = random.Random(5)
    payloads = [rng.randbytes(400) for _ in range(300)]  # random bytes do not compress: ~2 KB blocks
    journal = await Journal.open(tmp_path, "w00", settings=cfg, file_ops=disk.ops())
    for p in payloads[:40]:
        journal.append(Kind.FRAME, "w00-c001", p, T0)
    await journal.flush()
    durable = journal.durable_seq
    assert durable == 39 and journal.disk_error is None

    disk.room = 3_000  # room for a block and a half, then the disk is full
    for p in payloads[40:200]:  # segments roll every few blocks: headers fail to fit too
        journal.append(Kind.FRAME, "w00-c001", p, T0)
    await _eventually(lambda: journal.disk_error is not None)
    assert "No space left on device (ENOSPC)" in str(journal.disk_error) and "free space" in str(
        journal.disk_error
    )
    assert journal.backlogged  # 64 KB kept, over the 30 KB bound: the owner stops reading
    waiter = asyncio.create_task(journal.wait_writable())
    await _eventually(lambda: disk.failures >= 5)  # tried again and again
    assert not waiter.done() and journal.disk_error is not None
    stuck = journal.durable_seq
    # What is on disk meanwhile ends with a whole block: what a reader or a recovery finds is consistent.
    report = verify(tmp_path)
    assert report.ok and not report.torn_tails and report.records == stuck + 1
    assert not list((tmp_path / "journal").glob("*/*.tmp"))  # a header that did not fit is removed

    disk.room = None  # space returns
    await asyncio.wait_for(waiter, 10)
    for p in payloads[200:]:
        journal.append(Kind.FRAME, "w00-c001", p, T0)
    await journal.close()

    assert journal.disk_error is None and journal.disk_incidents == 1
    records = list(iter_records(tmp_path))
    assert [r.seq for r in records] == list(range(len(records)))
    assert [r.payload for r in records if r.kind == Kind.FRAME] == payloads
    report = verify(tmp_path)
    assert report.ok and report.records == len(records) == 302
    events = _incident_events(tmp_path)
    assert [e["event"] for _, e in events] == ["disk_full", "disk_ok"]
    (full_seq, full), (ok_seq, ok) = events
    assert (full["errno"] == "ENOSPC" and str(full["path"]).endswith(".journal")) or "tmp" in str(
        full["path"]
    )
    assert stuck < full_seq < ok_seq and int(str(ok["retries"])) >= 5
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, "one error per incident, however many tries"
    assert "w00" in errors[0].getMessage() and str(tmp_path) in errors[0].getMessage()
    assert any("writes again" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


async def test_a_failed_fsync_is_undone_and_the_blocks_are_written_again(tmp_path: Path) -> None:
    disk = FillingDisk()
    cfg = JournalSettings(**FAST_RETRY)
    journal = await Journal.open(tmp_path, "w00", settings=cfg, file_ops=disk.ops())
    journal.append(Kind.FRAME, "w00-c001", b"before", T0)
    await journal.flush()
    (segment,) = list_segments(tmp_path)
    size = segment.stat().st_size
    disk.bad_syncs = 1_000_000  # the bytes reach the file, but fdatasync says EIO: they may not be on disk
    seqs = [journal.append(Kind.FRAME, "w00-c001", b"during %d" % i, T0) for i in range(50)]
    await _eventually(lambda: disk.failures >= 3)
    assert "Input/output error (EIO)" in str(journal.disk_error)
    assert "check the disk" in str(journal.disk_error)
    assert journal.durable_seq == 0
    assert segment.stat().st_size == size  # each failed try was cut back to the last synced block
    disk.bad_syncs = 0
    await journal.wait_durable(seqs[-1])
    await journal.close()
    records = list(iter_records(tmp_path))
    assert [r.payload for r in records if r.kind == Kind.FRAME] == [b"before"] + [
        b"during %d" % i for i in range(50)
    ]
    assert [e["event"] for _, e in _incident_events(tmp_path)] == ["disk_error", "disk_ok"]
    assert verify(tmp_path).ok


async def test_a_torn_write_is_cut_back_before_anything_is_appended_after_it(tmp_path: Path) -> None:
    disk = FillingDisk()
    cfg = JournalSettings(block_bytes=1_000, **FAST_RETRY)
    rng = random.Random(9)
    payloads = [rng.randbytes(300) for _ in range(40)]
    journal = await Journal.open(tmp_path, "w00", settings=cfg, file_ops=disk.ops())
    for p in payloads[:10]:
        journal.append(Kind.FRAME, "w00-c001", p, T0)
    await journal.flush()
    disk.room = 500  # half a block fits
    disk.bad_truncates = 1_000_000  # and cutting it back fails too, for now
    for p in payloads[10:]:
        journal.append(Kind.FRAME, "w00-c001", p, T0)
    await _eventually(lambda: disk.failures >= 4)
    (segment,) = list_segments(tmp_path)
    torn = verify(segment)
    assert torn.torn_tails and not torn.corrupt  # a torn tail, as a crash would leave: recovery repairs it
    disk.room = None  # space returns, but the tail cannot be cut yet: nothing may be appended after it
    await _eventually(lambda: disk.failures >= 8)
    assert segment.stat().st_size == torn.bytes_on_disk and journal.disk_error is not None
    disk.bad_truncates = 0
    await journal.close()
    report = verify(tmp_path)
    assert report.ok and not report.corrupt and not report.torn_tails
    assert [r.payload for r in iter_records(tmp_path) if r.kind == Kind.FRAME] == payloads


async def test_a_disk_that_never_comes_back_makes_close_give_up_and_name_the_lost_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    disk = FillingDisk()
    cfg = JournalSettings(close_retry_s=0.3, **FAST_RETRY)
    journal = await Journal.open(tmp_path, "w00", settings=cfg, file_ops=disk.ops())
    disk.room = 0
    seq = journal.append(Kind.FRAME, "w00-c001", b"lost", T0)
    waiter = asyncio.create_task(journal.wait_durable(seq))
    await _eventually(lambda: journal.disk_error is not None)
    assert not waiter.done()  # while the journal still tries, durability is only late
    started = asyncio.get_running_loop().time()
    with pytest.raises(JournalFailed, match=r"could not write records 0\.\.1"):
        await journal.close()  # record 0 and the disk_full event
    assert asyncio.get_running_loop().time() - started >= 0.3
    with pytest.raises(JournalFailed):
        await waiter
    with pytest.raises(JournalFailed):
        journal.append(Kind.FRAME, "w00-c001", b"after", T0)
    assert journal.durable_seq == -1
    assert any("are lost" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


def test_every_event_reads_back_as_written_and_an_unknown_one_is_skipped() -> None:
    from gatherer.capture import events

    written = [
        events.Connected(url="ws://127.0.0.1:1/websocket", attempt=2),
        events.Refused(tr_cd="S3_", tr_key="005930", rsp_cd="IGW00201", rsp_msg="too fast"),
        events.Holding(registrations=[("OVC", "ESZ26   ")]),
        events.Disconnected(reason=events.CLOSED_BY_US),
        events.DiskOk(path="/data/journal", down_s=1.5, retries=3),
    ]
    for event in written:
        payload = events.encode(event)
        assert payload.startswith(b'{"event":"')  # the tag first, as docs/formats.md lists them
        assert events.decode(payload) == event
    assert events.decode(b'{"event":"from_the_future","x":1}') is None
    assert events.name(b'{"event":"from_the_future","x":1}') == "from_the_future"
    assert events.decode(b"junk") is None and events.name(b"junk") == "?"


async def test_a_backlog_is_made_durable_in_slices_releasing_its_bytes_as_it_goes(tmp_path: Path) -> None:
    """A backlog (sealed blocks waiting) is written and fsync'd at most ``write_slice_bytes`` at a
    time, so its bytes are released slice by slice and the owner can read again before it is all
    written; every record ends up durable, in order."""
    from gatherer.capture import JournalSettings
    from gatherer.capture.writer import FileOps, _datasync

    syncs: list[int] = []  # pending bytes seen at each fsync
    cfg = JournalSettings(block_bytes=4096, write_slice_bytes=16384, max_pending_bytes=32768)
    journal: Journal | None = None

    def datasync(fd: int) -> None:
        _datasync(fd)
        assert journal is not None
        syncs.append(journal.pending_bytes)

    ops = FileOps(datasync=datasync)
    journal = await Journal.open(tmp_path, "w00", settings=cfg, clock=ManualClock(T0), file_ops=ops)
    payload = b"x" * 1000
    for i in range(200):  # ~200 KB at once: far over max_pending_bytes
        journal.append(Kind.FRAME, "w00-c000", payload, T0 + i)
    assert journal.backlogged
    await journal.wait_writable()
    released_early = journal.next_seq - 1 - journal.durable_seq
    await journal.close()
    assert len(syncs) >= 200 * 1000 // 16384  # one fsync per slice, not one for the backlog
    assert released_early > 0  # writable again before the whole backlog was durable
    assert [r.seq for r in iter_records(tmp_path / "journal")] == list(range(200))
