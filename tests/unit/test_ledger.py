"""The cumulative-volume chain and the backfill chain check, on LS's own example frames and rows."""

from __future__ import annotations

import copy
import json
from typing import Any

from gatherer.capture import Kind, Record
from gatherer.decode import Batch, Decoder
from gatherer.ledger import VolumeChains, VolumeGap
from gatherer.ledger.backfill import chain_rows

from ..conftest import ls_example

T0 = 1_764_030_000_000_000_000  # 2025-11-25 09:20 KST


def _frames(tr: str, key: str, prints: list[tuple[int, int]], volume: str, size: str) -> list[Record]:
    """LS's example frame of ``tr`` with (cumulative volume, print size) set per print."""
    base = ls_example(tr)["response"]
    out = []
    for i, (vol, cvol) in enumerate(prints):
        frame: dict[str, Any] = copy.deepcopy(base)
        frame["header"]["tr_key"] = key
        frame["body"][volume] = str(vol)
        frame["body"][size] = str(cvol)
        payload = json.dumps(frame, ensure_ascii=False).encode()
        out.append(Record(Kind.FRAME, 100 + i, T0 + i * 1_000_000, "w00-c000", payload))
    return out


def _batches(records: list[Record]) -> list[Batch]:
    decoder = Decoder()
    decoder.add_all(records)
    batches = decoder.flush()
    assert not decoder.take_quarantine()
    return batches


def _feed(chains: VolumeChains, records: list[Record]) -> list[VolumeGap]:
    return [g for b in _batches(records) for g in chains.feed(b)]


def test_a_jump_in_cumulative_volume_is_a_gap_with_the_missing_quantity() -> None:
    # 10887 is LS's example volume; 3 prints (7 shares) are never sent between 10890 and 10900.
    prints = [(10887, 1), (10890, 3), (10900, 3), (10905, 5)]
    chains = VolumeChains("w00")
    (gap,) = _feed(chains, _frames("S3_", "005930", prints, "volume", "cvolume"))
    assert (gap.tr_cd, gap.symbol, gap.market) == ("S3_", "005930", "kospi")
    assert (gap.volume_before, gap.volume_after, gap.size_after, gap.missing) == (10890, 10900, 3, 7)
    assert (gap.seq_before, gap.seq_after) == (101, 102)
    assert gap.id == "w00-102" and gap.start_ns == T0 + 1_000_000 and gap.end_ns == T0 + 2_000_000
    assert gap.start_time == gap.end_time == "090851"  # the exchange time as sent (LS's example)
    assert chains.stats.prints == 4 and chains.stats.gaps == 1 and chains.stats.missing == 7


def test_overseas_feeds_chain_totq_and_trdq() -> None:
    prints = [(28064, 1), (28065, 1), (28070, 2)]
    (gap,) = _feed(VolumeChains("w01"), _frames("OVC", "NQU23   ", prints, "totq", "trdq"))
    assert (gap.tr_cd, gap.symbol, gap.market, gap.missing) == ("OVC", "NQU23", "ofutures", 3)


def test_a_new_session_and_a_repeat_are_not_gaps() -> None:
    prints = [(500, 5), (505, 5), (3, 3), (5, 2), (5, 2)]  # counter restarts, then one print repeated
    chains = VolumeChains("w00")
    assert _feed(chains, _frames("K3_", "035720", prints, "volume", "cvolume")) == []
    assert chains.stats.resets == 1 and chains.stats.overlaps == 1


def test_the_chain_continues_across_a_checkpoint() -> None:
    prints = [(100, 1), (101, 1), (110, 2), (112, 2), (120, 1)]
    records = _frames("S3_", "000660", prints, "volume", "cvolume")
    whole = _feed(VolumeChains("w00"), records)
    first = VolumeChains("w00")
    gaps = _feed(first, records[:2])
    resumed = VolumeChains("w00", json.loads(json.dumps(first.state())))
    gaps += _feed(resumed, records[2:])
    assert gaps == whole and [g.missing for g in whole] == [7, 7]


def _t8454_gap() -> tuple[VolumeGap, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = ls_example("t8454")["response"]["t8454OutBlock1"]
    # LS's 20-row page chains print by print: the oldest row is V_a, the newest print after it is V_b.
    gap = VolumeGap(
        id="w00-9", trading_day="2025-11-25", market="kospi", tr_cd="NS3", symbol="010950",
        start_ns=0, end_ns=1, start_time="135820", end_time="141715",
        volume_before=int(rows[-1]["volume"]), volume_after=int(rows[0]["volume"]),
        size_after=int(rows[0]["cvolume"]), missing=0, seq_before=1, seq_after=9,
    )  # fmt: skip
    missing = gap.volume_after - gap.size_after - gap.volume_before
    return VolumeGap(**{**{k: getattr(gap, k) for k in VolumeGap.__slots__}, "missing": missing}), rows


def test_ls_example_rows_fill_the_gap_between_their_ends() -> None:
    gap, rows = _t8454_gap()
    chained, filled = chain_rows(gap, rows + rows[:5])  # a repeated page join is deduplicated
    assert filled == gap.missing == 289
    assert len(chained) == 18 and all(ok for _row, ok in chained)
    assert [int(r["volume"]) for r, _ in chained] == sorted(int(r["volume"]) for r in rows[1:-1])


def test_a_missing_row_breaks_the_chain_from_there_on() -> None:
    gap, rows = _t8454_gap()
    holed = [r for r in rows if int(r["volume"]) != 26650]  # one print of 1 share lost
    chained, filled = chain_rows(gap, holed)
    oks = [ok for _r, ok in chained]
    first_bad = oks.index(False)
    assert filled < gap.missing and all(oks[:first_bad]) and not any(oks[first_bad:])
