"""Universe selection and connection chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatherer.config import parse_config
from gatherer.errors import ConfigError
from gatherer.plan.select import Registration, chunk, select

MASTERS = {"kospi": ["005930", "000660", "035420"], "ofutures": ["ESZ26", "NQZ26"]}


def test_all_takes_the_master_and_every_channel() -> None:
    cfg = parse_config('[markets.kospi]\nsymbols = "all"\nchannels = ["book", "trade"]\n')
    regs = select(cfg, MASTERS)
    assert len(regs) == 6
    assert {r.tr_cd for r in regs} == {"H1_", "S3_"}
    assert Registration("kospi", "book", "H1_", "005930") in regs


def test_a_list_is_checked_against_the_master() -> None:
    cfg = parse_config('[markets.ofutures]\nsymbols = ["ESZ26", "CLZ26", "XXZ26"]\n')
    with pytest.raises(
        ConfigError,
        match=r"markets.ofutures.symbols: 2 code\(s\) or pattern\(s\) match nothing in today.s ofutures",
    ):
        select(cfg, MASTERS)


def test_overseas_keys_are_padded() -> None:
    cfg = parse_config('[markets.ofutures]\nsymbols = ["ESZ26"]\nchannels = ["trade"]\n')
    (reg,) = select(cfg, MASTERS)
    assert reg.tr_key == "ESZ26   "


@given(st.integers(0, 2000), st.integers(1, 300))
def test_chunks_respect_the_limit_and_are_balanced(n: int, per: int) -> None:
    regs = [Registration("kospi", "book", "H1_", f"{i:06d}") for i in range(n)]
    parts = chunk(regs, per)
    assert sorted(r for p in parts for r in p) == sorted(regs)
    assert all(0 < len(p) <= per for p in parts)
    if parts:
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
