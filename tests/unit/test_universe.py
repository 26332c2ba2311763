"""The simulated universe: real sizes (LS_OPENAPI.md §5), valid codes and grids, example-shaped masters."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gatherer.sim.universe import (
    MasterRequestError,
    Universe,
    build_universe,
    isin,
    krx_option_tick,
    krx_stock_tick,
    master_rows,
)

DAY = dt.date(2026, 11, 25)
"""A Wednesday: December's KOSPI200 future is the front; November's options expired on the 12th."""
EXAMPLES = Path(__file__).parents[1] / "fixtures" / "ls_examples"


@pytest.fixture(scope="module")
def universe() -> Universe:
    return build_universe(seed=0, as_of=DAY)


def _example_rows(tr_cd: str) -> list[dict[str, Any]]:
    rec = json.loads((EXAMPLES / f"{tr_cd}.json").read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = rec["response"][f"{tr_cd}OutBlock"]
    return rows


def test_same_seed_same_universe_other_seed_differs(universe: Universe) -> None:
    again = build_universe(seed=0, as_of=DAY)
    assert again.instruments == universe.instruments
    assert master_rows(again, "t8436", {"gubun": "0"}) == master_rows(universe, "t8436", {"gubun": "0"})
    assert build_universe(seed=1, as_of=DAY).instruments["kospi"] != universe.instruments["kospi"]


def test_stock_counts_match_the_2025_t8436_dump(universe: Universe) -> None:
    kospi, kosdaq = universe.instruments["kospi"], universe.instruments["kosdaq"]
    assert len(kospi) == 2_401 and len(kosdaq) == 1_811
    kinds = [i.kind for i in kospi]
    assert kinds.count("etf") == 1_048 and kinds.count("etn") == 393
    assert kinds.count("stock") + kinds.count("spac") == 960
    assert sum(i.kind == "spac" for i in kospi + kosdaq) == 77
    codes = [i.symbol for i in kospi + kosdaq]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"\d{6}", c) for c in codes)
    assert all(i.symbol.startswith("5") for i in kospi if i.kind == "etn")
    assert all(re.search(r"[가-힣]", i.name) for i in kosdaq)


def test_prices_are_on_their_tick_grids(universe: Universe) -> None:
    for inst in universe.instruments["kospi"] + universe.instruments["kosdaq"]:
        assert inst.ref_price % inst.tick_size(inst.ref_price) == 0, inst
        if inst.kind in ("stock", "spac"):
            assert inst.ref_price % krx_stock_tick(inst.ref_price) == 0
    for inst in universe.instruments["koptions"]:
        assert inst.ref_price % krx_option_tick(inst.ref_price) == 0, inst
        assert inst.ref_price >= Decimal("0.01")
    for market in ("kfutures", "ofutures", "ooptions"):
        for inst in universe.instruments[market]:
            assert inst.ref_price % inst.tick == 0, inst


def test_krx_derivative_codes_use_the_2026_format(universe: Universe) -> None:
    futures = [i for i in universe.instruments["kfutures"] if i.kind == "future"]
    spreads = [i for i in universe.instruments["kfutures"] if i.kind == "spread"]
    assert futures[0].symbol == "A016C000" and futures[0].name == "F 2612"
    assert len(futures) >= 3 and len(spreads) >= 2
    assert all(re.fullmatch(r"A01\d[1-9A-C]000", i.symbol) for i in futures)
    options = universe.instruments["koptions"]
    assert len(options) > 5_000
    assert len({i.symbol for i in options}) == len(options)
    for inst in options:
        assert re.fullmatch(r"[BC]01\d[1-9A-C]\d{3}", inst.symbol), inst.symbol
        assert inst.symbol[0] == ("B" if inst.kind == "call" else "C")
        assert inst.strike is not None and inst.symbol[-3:] == f"{int(inst.strike) % 1000:03d}"
        assert re.fullmatch(r"[CP] \d{4} \d+\.\d", inst.name), inst.name
    assert any(i.name == "C 2612 872.5" and i.symbol == "B016C872" for i in options)


def test_overseas_products_and_series(universe: Universe) -> None:
    futures = universe.instruments["ofutures"]
    products = {i.product for i in futures}
    assert {
        "ES",
        "NQ",
        "YM",
        "RTY",
        "CL",
        "NG",
        "GC",
        "SI",
        "HG",
        "ZB",
        "ZN",
        "6E",
        "6J",
        "AD",
        "HSI",
        "NK",
    } <= products
    assert all(len(i.symbol) <= 8 for i in futures)
    assert "ESZ26" in {i.symbol for i in futures}
    options = universe.instruments["ooptions"]
    assert len(options) >= 15_000
    assert len({i.symbol for i in options}) == len(options)
    assert all(len(i.symbol) <= 16 for i in options)
    assert {"O_ES", "O_NQ", "O_CL"} <= {i.product for i in options}


def test_master_rows_have_the_example_fields_and_json_types(universe: Universe) -> None:
    for tr_cd, inblock in [
        ("t8436", {"gubun": "1"}),
        ("t8432", {"gubun": ""}),
        ("t8433", {"dummy": ""}),
        ("o3101", {"gubun": ""}),
    ]:
        example = _example_rows(tr_cd)[0]
        ours = master_rows(universe, tr_cd, inblock)[0]
        assert list(ours) == list(example), tr_cd
        for key, value in example.items():
            assert type(ours[key]) is type(value), (tr_cd, key)
            if isinstance(value, str) and re.fullmatch(r"-?\d+\.\d+", value):
                assert re.fullmatch(rf"-?\d+\.\d{{{len(value.split('.')[1])}}}", str(ours[key])), (tr_cd, key)
    products = master_rows(universe, "o3121", {"MktGb": "O", "BscGdsCd": ""})
    example = _example_rows("o3121")[0]
    assert list(products[0]) == list(example)
    assert all(type(products[0][k]) is type(v) for k, v in example.items())
    series = master_rows(universe, "o3121", {"MktGb": "O", "BscGdsCd": "O_ES"})
    assert list(series[0]) == list(example)
    assert isinstance(series[0]["DotGb"], int) and series[0]["DotGb"] == 2
    assert all(r["BscGdsCd"] == "O_ES" and r["Symbol"] for r in series)
    assert (
        sum(len(master_rows(universe, "o3121", {"MktGb": "O", "BscGdsCd": p["BscGdsCd"]})) for p in products)
        >= 15_000
    )


def test_t8467_prices_are_strings_with_two_decimals(universe: Universe) -> None:
    rows = master_rows(universe, "t8467", {"gubun": ""})
    assert rows[0]["shcode"] == "A016C000"
    for row in rows:
        for key in ("uplmtprice", "dnlmtprice", "jnilclose", "jnilhigh", "jnillow", "recprice"):
            assert re.fullmatch(r"-?\d{1,6}\.\d{2}", str(row[key])), (key, row[key])
    assert master_rows(universe, "t8467", {"gubun": "V"}) == []


def test_master_rows_check_their_inblock(universe: Universe) -> None:
    with pytest.raises(KeyError):
        master_rows(universe, "o3121", {"MktGb": "O"})
    with pytest.raises(MasterRequestError):
        master_rows(universe, "t8436", {"gubun": "9"})
    assert master_rows(universe, "o3121", {"MktGb": "O", "BscGdsCd": "O_NOPE"}) == []


def test_isin_check_digit_matches_real_isins() -> None:
    assert isin("KR7", "00002000") == "KR7000020008"  # 동화약품 in LS's t8436 example
    assert isin("KR7", "00538100") == "KR7005381009"
    assert isin("KR4", "101T9000") == "KR4101T90003"  # F 2309 in LS's t8432 example
    assert isin("KR4", "201T7185") == "KR4201T71852"
