"""The simulator lists what the venue would list on its clock's date: contract months roll at
their last trading day (KOSPI200 on the second Thursday, CME and other exchanges by their rules),
across year ends and into the 2030s, with the universe's sizes unchanged."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatherer.sim.listings import (
    MONTH_LETTERS,
    cycle_months,
    future_last_day,
    future_months,
    k200_future_months,
    k200_last_day,
    k200_option_months,
    option_expiry,
    option_months,
    underlying_month,
)
from gatherer.sim.universe import Universe, build_universe, master_rows

D = dt.date


def test_the_kospi200_expiry_is_the_second_thursday() -> None:
    assert k200_last_day(2026, 12) == D(2026, 12, 10)
    assert k200_last_day(2026, 6) == D(2026, 6, 11)
    assert k200_last_day(2030, 6) == D(2030, 6, 13)  # June 2030 begins on a Saturday
    assert k200_last_day(2027, 4) == D(2027, 4, 8)  # April 2027 begins on a Thursday


def test_kospi200_futures_roll_the_day_after_the_second_thursday() -> None:
    on_expiry = k200_future_months(D(2026, 12, 10))
    assert on_expiry == [(2026, 12), (2027, 3), (2027, 6), (2027, 9)]
    assert k200_future_months(D(2026, 12, 11)) == [(2027, 3), (2027, 6), (2027, 9), (2027, 12)]
    assert k200_future_months(D(2026, 12, 9)) == on_expiry


def test_kospi200_options_list_krx_s_eleven_months() -> None:
    # 2026-11-25: November expired on the 12th. Four non-quarterly months, one March, one
    # September, two Junes, three Decembers.
    months = k200_option_months(D(2026, 11, 25))
    assert [f"{y % 100:02d}{m:02d}" for y, m in months] == [
        "2612", "2701", "2702", "2703", "2704", "2705", "2706", "2709", "2712", "2806", "2812",
    ]  # fmt: skip
    assert k200_option_months(D(2026, 11, 12))[0] == (2026, 11)  # its expiry day: still listed
    assert k200_option_months(D(2026, 11, 13))[0] == (2026, 12)
    assert len(k200_option_months(D(2026, 11, 13))) == 11


def test_overseas_futures_last_trading_days_by_exchange_rule() -> None:
    assert future_last_day("ES", 2026, 12) == D(2026, 12, 18)  # third Friday
    assert future_last_day("CL", 2027, 1) == D(2026, 12, 22)  # 3 business days before Dec 25
    assert future_last_day("CL", 2026, 12) == D(2026, 11, 20)
    assert future_last_day("CL", 2027, 5) == D(2027, 4, 20)  # Apr 25 2027 is a Sunday: from the 23rd
    assert future_last_day("NG", 2027, 1) == D(2026, 12, 29)  # 3 business days before Jan 1
    assert future_last_day("GC", 2026, 12) == D(2026, 12, 29)  # third-last business day
    assert future_last_day("ZN", 2026, 12) == D(2026, 12, 22)  # 7 business days before Dec 31
    assert future_last_day("6E", 2026, 12) == D(2026, 12, 14)  # 2 business days before Wed 16th
    assert future_last_day("HSI", 2026, 11) == D(2026, 11, 27)  # second-last business day
    assert future_last_day("NK", 2026, 12) == D(2026, 12, 10)  # the day before the second Friday


def test_overseas_futures_months_follow_the_cycle_and_roll() -> None:
    assert future_months("ES", "HMUZ", D(2026, 12, 18)) == [(2026, 12), (2027, 3), (2027, 6), (2027, 9)]
    assert future_months("ES", "HMUZ", D(2026, 12, 19)) == [(2027, 3), (2027, 6), (2027, 9), (2027, 12)]
    assert future_months("CL", "all", D(2026, 12, 4)) == [(2027, 1), (2027, 2), (2027, 3), (2027, 4)]
    # HSI: the spot and next month, then the next two quarter months.
    assert future_months("HSI", "2+HMUZ", D(2026, 11, 25)) == [(2026, 11), (2026, 12), (2027, 3), (2027, 6)]
    assert future_months("HSI", "2+HMUZ", D(2026, 11, 30)) == [(2026, 12), (2027, 1), (2027, 3), (2027, 6)]
    assert cycle_months("all") == (0, MONTH_LETTERS) and cycle_months("2+HMUZ") == (2, "HMUZ")
    with pytest.raises(ValueError, match="'HMUQ9'"):
        cycle_months("HMUQ9")


def test_overseas_option_expiries_by_product_rule() -> None:
    assert option_expiry("O_ES", 2026, 12) == D(2026, 12, 18)
    assert option_expiry("O_E1A", 2026, 12) == D(2026, 12, 7)  # first Monday
    assert option_expiry("O_GC", 2026, 12) == D(2026, 11, 25)  # 4th-last business day of November
    assert option_expiry("O_ZB", 2026, 12) == D(2026, 11, 20)  # last Friday ≥2 business days before Nov 30
    assert option_expiry("O_6E", 2026, 12) == D(2026, 12, 4)  # second Friday before Wed Dec 16
    assert option_expiry("O_CL", 2027, 1) == D(2026, 12, 21)  # the business day before its future's
    assert option_months("O_GC", D(2026, 11, 25))[0] == (2026, 12)
    assert option_months("O_GC", D(2026, 11, 26)) == [(2027, 1), (2027, 2), (2027, 3), (2027, 4)]
    assert underlying_month("HMUZ", (2027, 1)) == (2027, 3)
    assert underlying_month("GJMQVZ", (2027, 3)) == (2027, 4)
    assert underlying_month("all", (2027, 1)) == (2027, 1)


# -- the whole universe at several dates --------------------------------------------------------


def _fronts(u: Universe) -> dict[str, str]:
    out = {}
    for market in ("kfutures", "koptions", "ofutures", "ooptions"):
        insts = [i for i in u.instruments[market] if i.kind != "spread"]
        out[market] = min(insts, key=lambda i: i.expiry).expiry
    return out


@pytest.mark.parametrize(
    ("as_of", "kfront", "kfront_code", "koption_front", "es_front"),
    [
        (D(2026, 12, 10), "F 2612", "A016C000", "202612", "ESZ26"),  # KRX expiry day
        (D(2026, 12, 11), "F 2703", "A0173000", "202701", "ESZ26"),  # the day after
        (D(2026, 12, 31), "F 2703", "A0173000", "202701", "ESH27"),  # across the year end
        (D(2027, 1, 1), "F 2703", "A0173000", "202701", "ESH27"),
        (D(2030, 6, 14), "F 3009", "A0109000", "203007", "ESM30"),  # 2030: year digit 0; ES until the 21st
    ],
)
def test_the_universe_rolls_with_its_date(
    as_of: dt.date, kfront: str, kfront_code: str, koption_front: str, es_front: str
) -> None:
    u = build_universe(seed=0, as_of=as_of)
    futures = [i for i in u.instruments["kfutures"] if i.kind == "future"]
    assert (futures[0].name, futures[0].symbol) == (kfront, kfront_code)
    assert _fronts(u)["koptions"] == koption_front
    assert next(i.symbol for i in u.instruments["ofutures"] if i.product == "ES") == es_front
    assert master_rows(u, "o3101", {"gubun": ""})[0]["ApplDate"] == as_of.strftime("%Y%m%d")
    assert {r["ApplDate"] for r in master_rows(u, "o3121", {"MktGb": "O", "BscGdsCd": ""})} == {
        as_of.strftime("%Y%m%d")
    }


@settings(max_examples=25, deadline=None)
@given(st.dates(D(2026, 1, 1), D(2036, 12, 31)))
def test_on_any_date_nothing_expired_is_listed_and_the_sizes_hold(as_of: dt.date) -> None:
    u = build_universe(seed=3, as_of=as_of)
    sizes = {m: len(insts) for m, insts in u.instruments.items()}
    assert sizes == {
        "kospi": 2_401, "kosdaq": 1_811, "kfutures": 7, "koptions": 5_236, "ofutures": 72, "ooptions": 16_800,
    }  # fmt: skip
    for market in ("kfutures", "koptions", "ofutures", "ooptions"):
        insts = u.instruments[market]
        assert len({i.symbol for i in insts}) == len(insts), market
        for inst in insts:
            if inst.kind == "spread":
                continue
            assert inst.last_day is not None and as_of <= inst.last_day, inst
            assert (inst.last_day - as_of).days < 4 * 366, inst
    # The front KOSPI200 future is the first quarterly month whose second Thursday has not passed.
    front = next(i for i in u.instruments["kfutures"] if i.kind == "future")
    y, m = int(front.expiry[:4]), int(front.expiry[4:])
    before = (y, m - 3) if m > 3 else (y - 1, 12)
    assert k200_last_day(*before) < as_of <= k200_last_day(y, m)
    assert front.symbol == f"A01{y % 10}{'369C'[m // 3 - 1]}000"
    for inst in u.instruments["ofutures"]:
        y, m = int(inst.expiry[:4]), int(inst.expiry[4:])
        assert inst.symbol == f"{inst.product}{MONTH_LETTERS[m - 1]}{y % 100:02d}"
    for inst in u.instruments["ooptions"]:
        y, m = int(inst.expiry[:4]), int(inst.expiry[4:])
        assert re.fullmatch(
            rf"[23]{inst.product[2:]}{MONTH_LETTERS[m - 1]}{y % 100:02d}_[0-9.]+", inst.symbol
        )


def test_same_seed_and_date_same_universe() -> None:
    a = build_universe(seed=5, as_of=D(2028, 2, 29))
    b = build_universe(seed=5, as_of=D(2028, 2, 29))
    assert a.instruments == b.instruments
    later = build_universe(seed=5, as_of=D(2028, 3, 10))
    assert later.instruments["kospi"] == a.instruments["kospi"]  # stocks depend on the seed only
    assert later.instruments["kfutures"] != a.instruments["kfutures"]  # March expired on the 9th
