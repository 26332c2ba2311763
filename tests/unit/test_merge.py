"""The A/B merge on its own: each venue frame once whichever side brings it first, identical frames
told apart by their order, the sides filling each other's holes, and the state surviving a restart."""

from __future__ import annotations

from pathlib import Path

from gatherer.capture import Kind, Record
from gatherer.run.merge import Merger, read_sides

T0 = 1_795_568_400_000_000_000  # 2026-11-25 10:00 Seoul


def frame(i: int, symbol: str = "005930") -> bytes:
    return b'{"header":{"tr_cd":"S3_","tr_key":"%s"},"body":{"cvolume":"%d"}}' % (symbol.encode(), i)


def records(frames: list[bytes], first_seq: int = 0) -> list[Record]:
    return [Record(Kind.FRAME, first_seq + i, T0 + i, "w00-c000", p) for i, p in enumerate(frames)]


def test_each_frame_once_and_the_other_side_fills_the_hole(tmp_path: Path) -> None:
    merger = Merger(tmp_path, "t")
    a = records([frame(i) for i in range(10)])
    b = records([frame(i) for i in range(5, 15)])
    kept = merger.take("A.w00", a) + merger.take("B.w00", b)
    assert [r.payload for r in kept] == [frame(i) for i in range(15)]
    assert (merger.stats.stored, merger.stats.dropped) == (15, 5)
    assert [(s.side, s.frames, s.stream) for s in merger.stretches()] == [
        ("A", 10, "S3_ 005930"), ("B", 5, "S3_ 005930"),
    ]  # fmt: skip


def test_identical_frames_are_told_apart_by_their_order(tmp_path: Path) -> None:
    merger = Merger(tmp_path, "t")
    same = frame(1)
    kept = merger.take("A.w00", records([same, same])) + merger.take("B.w00", records([same, same, same]))
    assert len(kept) == 3  # A's two, and B's third copy which A never had


def test_a_records_seq_is_merged_once_even_when_delivered_again(tmp_path: Path) -> None:
    merger = Merger(tmp_path, "t")
    a = records([frame(i) for i in range(4)])
    assert len(merger.take("A.w00", a)) == 4
    assert merger.take("A.w00", a) == []  # the same message again
    assert merger.stats.stored == 4


def test_the_state_comes_back_as_checkpointed_and_later_ledger_lines_are_cut(tmp_path: Path) -> None:
    first = Merger(tmp_path, "t")
    first.take("A.w00", records([frame(i) for i in range(10)]))
    first.save()
    first.take("B.w00", records([frame(i) for i in range(8, 20)]))  # closes A's stretch
    first.save()
    assert [s["side"] for s in read_sides(tmp_path, "2026-11-25", "t")] == ["A", "B"]
    ledger = tmp_path / "ledger" / "date=2026-11-25" / "sides-t.jsonl"
    ledger.write_text(ledger.read_text() + '{"torn": ')  # a line written after the last checkpoint
    again = Merger(tmp_path, "t")
    assert [s["side"] for s in read_sides(tmp_path, "2026-11-25", "t")] == ["A", "B"]
    # B's records up to 19 were merged: delivered again they are not stored; A's 20.. are new.
    assert again.take("B.w00", records([frame(i) for i in range(8, 20)])) == []
    kept = again.take("A.w00", records([frame(i) for i in range(18, 25)], first_seq=10))
    assert [r.payload for r in kept] == [frame(i) for i in range(20, 25)]
