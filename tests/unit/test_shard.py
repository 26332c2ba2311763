"""Shards of a universe: each registration in exactly one shard, loads balanced, the split the same
whatever the input order, and a small change of the universe moving few symbols."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gatherer.plan.select import Registration
from gatherer.plan.shard import CHANNEL_LOAD, SLACK, ShardError, load_of, parse_shard, shard_of, split
from gatherer.venues.ls.catalog import MARKET_CHANNELS


def universe(stocks: int = 300, futures: int = 60) -> list[Registration]:
    out = []
    for market, count, code in (("kospi", stocks, "{:06d}"), ("ofutures", futures, "F{:04d}")):
        for i in range(count):
            for channel, tr in MARKET_CHANNELS[market].items():
                out.append(Registration(market, channel, tr, code.format(i)))
    return out


def homes(parts: list[list[Registration]]) -> dict[tuple[str, str], int]:
    return {(r.market, r.symbol): i for i, part in enumerate(parts) for r in part}


def test_three_shards_cover_the_universe_exactly_once() -> None:
    regs = universe()
    parts = split(regs, 3)
    assert all(parts)
    assert Counter(r for p in parts for r in p) == Counter(regs)  # nothing twice, nothing missing
    assert [shard_of(regs, (k, 3)) for k in (1, 2, 3)] == parts
    # A symbol's TRs stay together.
    for part in parts:
        for other in parts:
            if other is not part:
                assert not {(r.market, r.symbol) for r in part} & {(r.market, r.symbol) for r in other}


def test_loads_are_balanced() -> None:
    regs = universe()
    heaviest = max(CHANNEL_LOAD.values()) * 3
    for n in (2, 3, 5):
        mean = load_of(regs) / n
        for part in split(regs, n):
            assert abs(load_of(part) - mean) <= SLACK * mean + heaviest, (n, load_of(part), mean)


def test_the_split_does_not_depend_on_the_input_order() -> None:
    regs = universe()
    shuffled = regs[:]
    random.Random(7).shuffle(shuffled)
    assert homes(split(regs, 3)) == homes(split(shuffled, 3))


def test_a_small_change_of_the_universe_moves_few_symbols() -> None:
    before = homes(split(universe(300), 3))
    for changed in (universe(301), universe(299), [r for r in universe(300) if r.symbol != "000150"]):
        after = homes(split(changed, 3))
        moved = sum(before[u] != after[u] for u in before.keys() & after.keys())
        assert moved <= 0.1 * len(before), moved


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", "1/0"])
def test_a_bad_shard_is_refused_with_what_to_write(text: str) -> None:
    with pytest.raises(ShardError, match=r"K/N|between 1 and N"):
        parse_shard(text)


def test_a_good_shard_parses() -> None:
    assert parse_shard("2/3") == (2, 3)
