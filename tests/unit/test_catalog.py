"""The TR catalog against LS's own example frames, and tr_key formatting round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatherer.venues.ls.catalog import CATALOG, LEGACY, MARKET_CHANNELS, spec
from gatherer.venues.ls.keys import format_tr_key, symbol_of

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "ls_examples"

# Fields the table lists but LS's example lacks, exactly as each example's notes say.
ABSENT_FROM_EXAMPLE = {
    "H1_": {"midprice", "offermidsumrem", "bidmidsumrem", "midsumrem", "midsumremgubun"},
    "HA_": {"midprice", "offermidsumrem", "bidmidsumrem", "midsumrem", "midsumremgubun"},
    "VI_": {"exchname"},
    "YS3": {"exchname"},
    "YK3": {"exchname"},
    "OVC": {"ovsmkend"},
    "WOC": {"ovsmkend"},
}
CORRUPT = {"WOH", "WOC"}


def _example(tr_cd: str) -> dict[str, Any] | None:
    path = EXAMPLES / f"{tr_cd}.json"
    if not path.exists():
        return None
    rec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return rec


WS_EXAMPLES = [tr for tr in CATALOG if _example(tr) is not None]


def test_every_catalog_tr_without_an_example_is_listed() -> None:
    missing = {tr for tr in CATALOG if _example(tr) is None}
    # DH0/DC0: LS documents their fields (§3.6, "FH0's list", "FC0's plus date, eqva, impv,
    # timevalue") but shows no example frame; NVI/UVI/YF9/YOC: their tables are §3.5/§3.6.
    assert missing == {"FH9", "FC9", "DH0", "DC0", "NVI", "UVI", "YF9", "YOC"}


def test_night_trs_are_the_day_lists_as_ls_describes_them() -> None:
    assert spec("DH0").names == spec("FH0").names
    assert spec("DC0").names == ("date", *spec("FC0").names, "eqva", "impv", "timevalue")
    assert {spec(tr).session for tr in CATALOG if spec(tr).session != "day"} == {"night"}
    assert {tr for tr in CATALOG if spec(tr).session == "night"} == {"DH0", "DC0"}


@pytest.mark.parametrize("tr_cd", WS_EXAMPLES)
def test_example_body_keys_are_catalog_fields(tr_cd: str) -> None:
    rec = _example(tr_cd)
    assert rec is not None
    body = rec["response"]["body"]
    names = set(spec(tr_cd).names)
    assert set(body) <= names, f"{tr_cd} example has fields outside the catalog: {set(body) - names}"
    assert names - set(body) == ABSENT_FROM_EXAMPLE.get(tr_cd, set())
    for name in ABSENT_FROM_EXAMPLE.get(tr_cd, set()):
        assert name in rec["notes"], f"{tr_cd}: {name} should be one the notes call absent"
    assert all(isinstance(v, str) for v in body.values())


@pytest.mark.parametrize("tr_cd", WS_EXAMPLES)
def test_example_keys_format_as_the_catalog_says(tr_cd: str) -> None:
    rec = _example(tr_cd)
    assert rec is not None
    key = rec["request"]["body"]["tr_key"]
    sp = spec(tr_cd)
    symbol = symbol_of(tr_cd, key)
    assert format_tr_key(tr_cd, symbol) == key
    if tr_cd in CORRUPT:
        return
    body = rec["response"]["body"]
    assert rec["response"]["header"]["tr_key"] == key
    if sp.key_field:
        assert body[sp.key_field].strip() == symbol


def test_known_keys() -> None:
    assert format_tr_key("NH1", "000880") == "N000880   "
    assert format_tr_key("US3", "005930") == "U005930   "
    assert format_tr_key("OVC", "NQU23") == "NQU23   "
    assert format_tr_key("WOH", "2ESU23_4400") == "2ESU23_4400     "
    assert format_tr_key("FC9", "A0166000") == "A0166000"
    assert format_tr_key("JIF", "") == "0"
    assert symbol_of("NS3", "N010950   ") == "010950"
    assert symbol_of("OVH", "NQU23   ") == "NQU23"


@pytest.mark.parametrize(
    ("tr_cd", "symbol"),
    [
        ("H1_", "0059301"),
        ("S3_", "05930"),
        ("NH1", "N000880"),
        ("US3", "00593 "),
        ("FC9", "A016600"),
        ("OVC", "2ESU23_4400"),
        ("OVH", ""),
        ("WOC", "X" * 17),
        ("WOC", "ES U26"),
        ("JIF", "005930"),
    ],
)
def test_symbols_that_do_not_fit_are_refused_with_the_tr_named(tr_cd: str, symbol: str) -> None:
    with pytest.raises(ValueError, match=tr_cd) as err:
        format_tr_key(tr_cd, symbol)
    assert repr(symbol) in str(err.value)
    assert "expected" in str(err.value)


def test_keys_with_the_wrong_prefix_are_refused() -> None:
    with pytest.raises(ValueError, match="UH1"):
        symbol_of("UH1", "N005930   ")
    with pytest.raises(ValueError, match="OVC"):
        symbol_of("OVC", "NQU23     ")


_CODE = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=6, max_size=6)
_DERIV = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=8)
_OVS = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-", min_size=1, max_size=16)


@given(code=_CODE, tr_cd=st.sampled_from([t for t, s in CATALOG.items() if s.key_field == "shcode"]))
def test_stock_keys_round_trip(code: str, tr_cd: str) -> None:
    key = format_tr_key(tr_cd, code)
    assert len(key) == {"stock6": 6, "nxt10": 10, "unified10": 10}[spec(tr_cd).key_style]
    assert symbol_of(tr_cd, key) == code


@given(code=_DERIV, tr_cd=st.sampled_from(["FH0", "FC0", "FH9", "FC9", "OH0", "OC0"]))
def test_derivative_keys_round_trip(code: str, tr_cd: str) -> None:
    assert symbol_of(tr_cd, format_tr_key(tr_cd, code)) == code


@given(symbol=_OVS, tr_cd=st.sampled_from(["OVH", "OVC", "WOH", "WOC"]))
def test_overseas_keys_round_trip_or_refuse(symbol: str, tr_cd: str) -> None:
    width = 8 if tr_cd in ("OVH", "OVC") else 16
    if len(symbol) > width:
        with pytest.raises(ValueError, match=tr_cd):
            format_tr_key(tr_cd, symbol)
        return
    key = format_tr_key(tr_cd, symbol)
    assert len(key) == width
    assert symbol_of(tr_cd, key) == symbol


def test_catalog_shape() -> None:
    for tr_cd, sp in CATALOG.items():
        assert sp.tr_cd == tr_cd
        assert len(set(sp.names)) == len(sp.names)
        assert sp.key_field == "" or sp.key_field in sp.names
        for f in sp.fields:
            assert f.length > 0 and 0 <= f.scale < f.length
            assert (f.kind == "dec") == (f.scale > 0) or f.name in ("ftradmdrate",)
    assert spec("FH9").field("offerho1").length == 9 and spec("FH0").field("offerho1").length == 6
    assert spec("FH9").names == spec("FH0").names and spec("FC9").names == spec("FC0").names
    assert spec("FC9").field("k200jisu").length == 9 and spec("FC9").field("cpower").length == 9
    assert spec("FC9").field("drate").length == 6
    assert spec("OVC").field("curpr").scale == 9
    assert spec("K1_").field("offerno1").kind == "str" and spec("OVH").field("offerno1").kind == "int"
    assert spec("S3_").field("price").kind == "int" and spec("FC9").field("price").kind == "dec"
    assert spec("WOH").field("symbol").length == 16 and spec("OVH").field("symbol").length == 8
    assert spec("NS3").field("shcode").length == 9 and "high" in spec("NS3").names
    assert spec("NK1").names[-3:] == ("time", "exchname", "ex_shcode")
    assert spec("JIF").names == ("jangubun", "jstatus")
    assert LEGACY == {"FH9": "FH0", "FC9": "FC0"}
    for market, channels in MARKET_CHANNELS.items():
        for channel, tr_cd in channels.items():
            assert market in spec(tr_cd).markets and spec(tr_cd).channel == channel


def test_unknown_tr_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="H1_"):
        spec("XYZ")


def test_catalog_is_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOG["H1_"] = CATALOG["HA_"]  # type: ignore[index]
