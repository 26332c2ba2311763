"""The simulator's market model: invariants over thousands of events, frame shapes, phases, JIF."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatherer.clock import seoul_ns
from gatherer.sim.market import MarketModel
from gatherer.sim.market.brokers import member_name
from gatherer.sim.universe import Instrument
from gatherer.venues.ls.catalog import CATALOG, spec

DAY = dt.date(2026, 5, 15)

INSTRUMENTS = [
    Instrument("kospi", "005930", "삼성전자", Decimal(72400), 0, "stock", Decimal(1)),
    Instrument("kospi", "000880", "한화", Decimal(1995), 0, "stock", Decimal(1)),
    Instrument("kosdaq", "086520", "에코프로", Decimal(763000), 0, "stock", Decimal(1)),
    Instrument("kospi", "069500", "KODEX 200", Decimal(35005), 0, "etf", Decimal(5)),
    Instrument(
        "kfutures", "A0166000", "F 2606", Decimal("870.50"), 2, "future", Decimal("0.05"), "K200", "202606"
    ),
    Instrument(
        "koptions",
        "B0166870",
        "C 2606 870.0",
        Decimal("9.98"),
        2,
        "call",
        Decimal("0.01"),
        "K200",
        "202606",
        Decimal("870"),
    ),
    Instrument(
        "koptions",
        "C0166800",
        "P 2606 800.0",
        Decimal("0.03"),
        2,
        "put",
        Decimal("0.01"),
        "K200",
        "202606",
        Decimal("800"),
    ),
    Instrument(
        "ofutures", "ESM26", "E-mini S&P", Decimal("6800.25"), 2, "future", Decimal("0.25"), "ES", "202606"
    ),
    Instrument(
        "ofutures", "HSIM26", "Hang Seng", Decimal("25000"), 0, "future", Decimal("1"), "HSI", "202606"
    ),
    Instrument(
        "ofutures",
        "ZNM26",
        "10Y Note",
        Decimal("112.500000"),
        6,
        "future",
        Decimal("0.015625"),
        "ZN",
        "202606",
    ),
    Instrument(
        "ooptions",
        "2ESM26_6800",
        "ES Call",
        Decimal("120.25"),
        2,
        "call",
        Decimal("0.25"),
        "O_ES",
        "202606",
        Decimal("6800"),
    ),
]
ALL_TRS = frozenset(tr for tr in CATALOG if tr != "JIF")
STOCK_TRADE = {"S3_", "K3_", "NS3", "US3"}
BOOKS = {"H1_", "HA_", "NH1", "UH1", "FH9", "FH0", "OH0", "OVH", "WOH"}


def _model(seed: int = 7, **kw: bool) -> MarketModel:
    return MarketModel(INSTRUMENTS, random.Random(seed), **kw)


def _at(hh: int, mm: int = 0, ss: int = 0) -> int:
    return seoul_ns(DAY, dt.time(hh, mm, ss))


def _dec(text: str, scale: int) -> int:
    """A wire price as integer units of 10**-scale, checking it has exactly `scale` decimals."""
    if scale == 0:
        assert text.lstrip("-").isdigit(), text
        return int(text)
    whole, _, frac = text.partition(".")
    assert len(frac) == scale, (text, scale)
    return int(whole + frac)


def _on_grid(inst: Instrument, units: int) -> bool:
    price = Decimal(units).scaleb(-max(inst.scale, 0))
    return units > 0 and price % inst.tick_size(price) == 0


def _book_levels(tr: str, body: dict[str, str], depth: int) -> tuple[list[str], list[str]]:
    asks = [body[f"offerho{i}"] for i in range(1, depth + 1)]
    bids = [body[f"bidho{i}"] for i in range(1, depth + 1)]
    return [a for a in asks if a != "0"], [b for b in bids if b != "0"]


def _run(model: MarketModel, inst: Instrument, start_ns: int, n: int, step_ns: int = 50_000_000):
    for k in range(n):
        now = start_ns + k * step_ns
        yield now, model.events(inst.market, inst.symbol, now, ALL_TRS)


@pytest.mark.parametrize("inst", INSTRUMENTS, ids=lambda i: f"{i.market}-{i.symbol}")
def test_invariants_over_thousands_of_events(inst: Instrument) -> None:
    model = _model()
    start = (
        _at(8, 58)
        if inst.market in ("kospi", "kosdaq")
        else _at(8, 43)
        if inst.market.startswith("k")
        else _at(10, 30)  # Hong Kong's day session opens at 10:15 Seoul
    )
    depth = 10 if inst.market in ("kospi", "kosdaq") else 5
    scale = inst.scale
    prev_volume: dict[str, int] = {}
    prev_side: dict[str, tuple[int, int]] = {}
    trades = 0
    book_before: dict[str, str] | None = None
    for _now, frames in _run(model, inst, start, 4000):
        auction_print = False
        trs = [tr for tr, _ in frames]
        assert len(trs) == len(set(trs))
        for tr, body in frames:
            assert tuple(body) == spec(tr).names, tr
            assert all(isinstance(v, str) for v in body.values())
            assert inst.market in spec(tr).markets
        books = {tr: body for tr, body in frames if tr in BOOKS}
        for tr, body in books.items():
            asks, bids = _book_levels(tr, body, depth)
            assert asks and bids
            a = [_dec(x, scale) for x in asks]
            b = [_dec(x, scale) for x in bids]
            assert all(_on_grid(inst, p) for p in a + b), (tr, asks, bids)
            assert a == sorted(a) and b == sorted(b, reverse=True)
            assert b[0] < a[0], (tr, body)
            if inst.market in ("kospi", "kosdaq"):
                ref = int(inst.ref_price)
                assert all(ref * 0.7 <= p <= ref * 1.3 for p in a + b)
        for tr, body in frames:
            if tr in STOCK_TRADE or tr in ("FC9", "FC0", "OC0", "OVC", "WOC"):
                vol_f, cvol_f, price_f = (
                    ("totq", "trdq", "curpr") if tr in ("OVC", "WOC") else ("volume", "cvolume", "price")
                )
                volume, cvol = int(body[vol_f]), int(body[cvol_f])
                assert cvol > 0 and volume == prev_volume.get(tr, 0) + cvol, tr
                prev_volume[tr] = volume
                price = _dec(body[price_f], scale)
                assert _on_grid(inst, price)
                sign = body["ydiffSign" if tr in ("OVC", "WOC") else "sign"]
                diff = price - _dec(str(inst.ref_price), scale) if scale else price - int(inst.ref_price)
                assert sign == ("2" if diff > 0 else "5" if diff < 0 else "3") or sign in ("1", "4")
                trades += 1
                if tr in ("OVC", "WOC"):
                    assert body["mdvolume"] == "" and body["msvolume"] == ""
                    continue
                md, ms = int(body["mdvolume"]), int(body["msvolume"])
                pmd, pms = prev_side.get(tr, (0, 0))
                moved = (md - pmd, ms - pms)
                # A continuous print moves exactly one side by cvolume; an auction print moves neither.
                assert moved in ((cvol, 0), (0, cvol), (0, 0)), (tr, moved, cvol)
                if moved == (cvol, 0):
                    assert body["cgubun"] == "-"
                if moved == (0, cvol):
                    assert body["cgubun"] == "+"
                prev_side[tr] = (md, ms)
                auction_print = auction_print or moved == (0, 0)
        book_tr = next((tr for tr in ("H1_", "HA_", "FH9", "OH0", "OVH", "WOH") if tr in books), None)
        trade = next(((tr, b) for tr, b in frames if tr in ("S3_", "K3_", "FC9", "OC0", "OVC", "WOC")), None)
        if book_before is not None and trade is not None and book_tr is not None and not auction_print:
            _check_walk(inst, book_before, books[book_tr], trade[1], depth, scale)
        if book_tr is not None:
            book_before = books[book_tr]
    assert trades > 200


def _check_walk(
    inst: Instrument,
    before: dict[str, str],
    after: dict[str, str],
    trade: dict[str, str],
    depth: int,
    scale: int,
) -> None:
    """The print is at the touch or deeper on the side it hit, and that side lost exactly what it printed."""
    ovs = "curpr" in trade
    price = _dec(trade["curpr" if ovs else "price"], scale)
    cvol = int(trade["trdq" if ovs else "cvolume"])
    buy = trade["cgubun"] == "+"
    side = "offer" if buy else "bid"
    levels = {
        _dec(before[f"{side}ho{i}"], scale): int(before[f"{side}rem{i}"])
        for i in range(1, depth + 1)
        if before[f"{side}ho{i}"] != "0"
    }
    if price not in levels:  # an auction print at the expected price, or an NXT-only print
        return
    touch = min(levels) if buy else max(levels)
    assert (price >= touch) if buy else (price <= touch)
    after_levels = {
        _dec(after[f"{side}ho{i}"], scale): int(after[f"{side}rem{i}"])
        for i in range(1, depth + 1)
        if after[f"{side}ho{i}"] != "0"
    }
    crossed = [p for p in levels if (p <= price if buy else p >= price)]
    taken = sum(levels[p] - after_levels.get(p, 0) for p in crossed)
    assert taken == cvol, (price, cvol, levels, after_levels)


def test_continuous_session_volume_is_the_sum_of_side_volumes() -> None:
    model = _model(3)
    inst = INSTRUMENTS[0]
    last: dict[str, str] = {}
    for _now, frames in _run(model, inst, _at(10), 3000):
        for tr, body in frames:
            if tr == "S3_":
                last = body
    assert int(last["volume"]) == int(last["mdvolume"]) + int(last["msvolume"]) > 0
    assert int(last["mdchecnt"]) + int(last["mschecnt"]) > 0


def test_auctions_produce_expected_prices_and_a_print_that_moves_no_side() -> None:
    model = _model(5)
    inst = INSTRUMENTS[0]
    expected = []
    for now in range(_at(8, 55), _at(9, 0), 1_000_000_000):
        for tr, body in model.events("kospi", "005930", now, ALL_TRS):
            assert tr not in STOCK_TRADE
            if tr == "YS3":
                expected.append(body)
            if tr == "H1_":
                assert body["donsigubun"] == "3"
    assert expected and int(expected[-1]["yevolume"]) > 0
    frames = dict(model.events("kospi", "005930", _at(9, 0, 1), ALL_TRS))
    s3 = frames["S3_"]
    assert s3["price"] == expected[-1]["yeprice"]
    assert s3["volume"] == s3["cvolume"] == expected[-1]["yevolume"]
    assert s3["mdvolume"] == s3["msvolume"] == "0"
    assert "YS3" not in frames
    assert inst.symbol == s3["shcode"]


def test_nxt_and_unified_variants() -> None:
    model = _model(11)
    seen: dict[str, dict[str, str]] = {}
    for _now, frames in _run(model, INSTRUMENTS[0], _at(10), 3000):
        for tr, body in frames:
            seen[tr] = body
    assert {"NH1", "NS3", "NK1", "UH1", "US3", "UK1"} <= set(seen)
    assert seen["NS3"]["exchname"] == "NXT" and seen["NS3"]["ex_shcode"] == "N005930"
    assert seen["US3"]["exchname"] in ("KRX", "NXT") and seen["US3"]["ex_shcode"] == "U005930"
    assert seen["UK1"]["ex_shcode"] == "U005930" and seen["NK1"]["exchname"] == "NXT"
    uh1 = seen["UH1"]
    for i in range(1, 11):
        krx, nxt, unt = (int(uh1[f"{v}_offerrem{i}"]) for v in ("krx", "nxt", "unt"))
        assert krx + nxt == unt
    assert int(seen["US3"]["volume"]) >= int(seen["S3_"]["volume"])


def test_broker_frames_look_like_lss() -> None:
    model = _model(13)
    k1: dict[str, str] = {}
    for _now, frames in _run(model, INSTRUMENTS[0], _at(10), 2000):
        k1 = dict(frames).get("K1_", k1)
    assert k1
    for i in range(1, 6):
        assert len(k1[f"offerno{i}"]) == 3 and k1[f"offerno{i}"].isdigit()
        assert len(k1[f"offertrad{i}"].encode("cp949")) <= 6
    for name in ("ftradmdvol", "ftradmsvol", "ftradmdcha", "ftradmscha"):
        assert len(k1[name]) == 10 and k1[name].isdigit()
    vols = [int(k1[f"tradmsvol{i}"]) for i in range(1, 6)]
    assert vols == sorted(vols, reverse=True)


def test_member_names_are_cut_like_lss_examples() -> None:
    assert member_name("BNK 증권") == "BNK 증"
    assert member_name("키움증권") == "키움증"
    assert member_name("KB증권") == "KB증권"
    assert member_name("씨엘에스에이") == "씨엘에"


def test_derivative_and_overseas_formatting() -> None:
    model = _model(17)
    seen: dict[str, dict[str, str]] = {}
    for inst in INSTRUMENTS[4:]:
        for _now, frames in _run(model, inst, _at(10), 500):
            seen.update(frames)
    fc9, fc0 = seen["FC9"], seen["FC0"]
    assert set(fc9) == set(fc0)
    for name in ("price", "k200jisu", "theoryprice", "offerho1"):
        assert len(fc9[name].split(".")[1]) == 2
    assert 700 < float(fc9["k200jisu"]) < 1000
    oc0 = seen["OC0"]
    assert 0 < float(oc0["impv"]) < 100 and float(oc0["timevalue"]) >= 0
    assert seen["WOC"]["symbol"] == "2ESM26_6800     " and seen["OVC"]["symbol"] in (
        "ESM26",
        "HSIM26",
        "ZNM26",
    )
    assert " " not in seen["OVC"]["curpr"] and not seen["OVC"]["curpr"].startswith("0. ")


def test_overseas_times_are_exchange_local_and_seoul() -> None:
    model = _model(19)
    now = _at(10)  # 2026-05-15 10:00 KST = 2026-05-14 20:00 CDT = 2026-05-15 09:00 HKT
    frames: dict[str, dict[str, str]] = {}
    for k in range(200):
        frames.update(model.events("ofutures", "ESM26", now + k, {"OVC"}))
    ovc = frames["OVC"]
    assert (ovc["kordate"], ovc["kortm"]) == ("20260515", "100000")
    assert (ovc["ovsdate"], ovc["trdtm"]) == ("20260514", "200000")
    assert ovc["ovsmkend"] == "20260515"
    frames = {}
    for k in range(200):
        frames.update(model.events("ofutures", "HSIM26", now + 1800 * 10**9 + k, {"OVC"}))
    # Hong Kong opens at 09:15 there, 10:15 Seoul: half an hour later it is 09:30 HKT.
    assert (frames["OVC"]["ovsdate"], frames["OVC"]["trdtm"]) == ("20260515", "093000")


def test_quirky_overseas_prices_render_like_lss_doc() -> None:
    model = _model(23, quirky_overseas_prices=True)
    frames: dict[str, dict[str, str]] = {}
    for k in range(300):
        frames.update(model.events("ofutures", "ESM26", _at(10) + k, {"OVC", "OVH"}))
    assert frames["OVC"]["curpr"].startswith("0.") and frames["OVH"]["offerho1"].startswith("0. ")
    assert frames["OVH"]["offerho1"][2:].strip() == frames["OVH"]["offerho1"][2:].lstrip()


@pytest.mark.parametrize(
    ("market", "hhmm", "phase"),
    [
        ("kospi", (8, 0), "closed"),
        ("kospi", (8, 30), "preopen"),
        ("kospi", (8, 59), "preopen"),
        ("kosdaq", (9, 0), "open"),
        ("kospi", (15, 19), "open"),
        ("kospi", (15, 20), "closing_auction"),
        ("kospi", (15, 30), "after"),
        ("kospi", (23, 0), "closed"),
        ("kfutures", (8, 44), "preopen"),
        ("koptions", (8, 45), "open"),
        ("kfutures", (15, 40), "closing_auction"),
        ("kfutures", (15, 45), "closed"),
        # Overseas by exchange; 2026-05-15 is in US daylight time: the CME break is 06:00-07:00 KST.
        ("CME", (6, 30), "closed"),
        ("CME", (7, 0), "open"),
        ("CME", (3, 0), "open"),
        ("CME", (23, 0), "open"),
        ("HKEX", (10, 0), "closed"),
        ("HKEX", (10, 15), "open"),
        ("HKEX", (13, 30), "closed"),  # Hong Kong's lunch break
        ("HKEX", (18, 30), "open"),  # after hours
    ],
)
def test_phases(market: str, hhmm: tuple[int, int], phase: str) -> None:
    assert _model().phase(market, _at(*hhmm)) == phase


def test_instruments_trade_by_their_exchange_and_krx_not_on_holidays() -> None:
    m = _model()
    assert m.group("ofutures", "ESM26") == m.group("ooptions", "2ESM26_6800") == "CME"
    assert m.group("ofutures", "HSIM26") == "HKEX" and m.group("kospi", "005930") == "kospi"
    winter = dt.date(2026, 12, 2)
    assert m.phase("CME", seoul_ns(winter, dt.time(6, 30))) == "open"  # US standard time
    assert m.phase("CME", seoul_ns(winter, dt.time(7, 30))) == "closed"
    christmas = dt.date(2026, 12, 25)  # a Friday, and a KRX holiday
    assert all(m.phase("kospi", seoul_ns(christmas, dt.time(h))) == "closed" for h in range(24))
    assert m.status_events(seoul_ns(christmas, dt.time(7))) == []
    assert m.status_events(seoul_ns(christmas, dt.time(10))) == []  # JIF says nothing: no session
    assert m.events("kospi", "005930", seoul_ns(christmas, dt.time(10)), ALL_TRS) == []
    assert m.phase("kospi", seoul_ns(dt.date(2026, 12, 28), dt.time(10))) == "open"
    # The 수능 day: everything an hour late.
    csat = dt.date(2026, 11, 19)
    assert m.phase("kospi", seoul_ns(csat, dt.time(9, 15))) == "closed"
    assert m.phase("kospi", seoul_ns(csat, dt.time(9, 45))) == "preopen"
    assert m.phase("kospi", seoul_ns(csat, dt.time(16, 0))) == "open"
    assert m.phase("kfutures", seoul_ns(csat, dt.time(16, 40))) == "closing_auction"
    with pytest.raises(ValueError, match="session group"):
        m.phase("ofutures", seoul_ns(winter, dt.time(10)))


def test_activity_is_u_shaped() -> None:
    m = _model()
    assert m.activity("kospi", _at(3)) == 0.0
    assert m.activity("kospi", _at(8, 40)) < 0.1
    at_open = m.activity("kospi", _at(9, 0))
    half_hour = m.activity("kospi", _at(9, 30))
    midday = m.activity("kospi", _at(12, 0))
    late = m.activity("kospi", _at(15, 15))
    assert 4.0 <= at_open <= 5.0
    assert half_hour < 1.5 and 0.8 <= midday <= 1.2
    assert late > midday * 1.5
    assert m.activity("CME", _at(6, 30)) == 0.0 and m.activity("CME", _at(23)) > 0


def test_closed_markets_produce_nothing() -> None:
    m = _model()
    assert m.events("kospi", "005930", _at(20), ALL_TRS) == []
    assert m.events("kfutures", "A0166000", _at(7), ALL_TRS) == []
    assert m.events("kospi", "999999", _at(10), ALL_TRS) == []


def _krx(frames: list[tuple[str, dict[str, str]]]) -> list[tuple[str, dict[str, str]]]:
    return [f for f in frames if f[1]["jangubun"] != "6"]


def test_status_events_follow_the_day() -> None:
    m = _model()
    assert _krx(m.status_events(_at(8, 0))) == []
    assert _krx(m.status_events(_at(8, 0, 1))) == []
    got = _krx(m.status_events(_at(8, 31)))
    assert sorted(b["jangubun"] for _tr, b in got) == ["1", "2", "5"]
    assert all(tr == "JIF" and b["jstatus"] == "11" for tr, b in got)
    assert _krx(m.status_events(_at(8, 46))) == [("JIF", {"jangubun": "5", "jstatus": "21"})]
    got = _krx(m.status_events(_at(9, 0)))
    assert {(b["jangubun"], b["jstatus"]) for _tr, b in got} == {("1", "21"), ("2", "21")}
    # Skipping from the session to after the close reports every transition in order.
    got = _krx(m.status_events(_at(16, 0)))
    assert [(b["jangubun"], b["jstatus"]) for _tr, b in got] == [
        ("1", "31"),
        ("1", "41"),
        ("2", "31"),
        ("2", "41"),
        ("5", "31"),
        ("5", "41"),
    ]
    assert _krx(m.status_events(_at(19, 0))) == []


def test_nxt_status_and_prints_outside_krx_hours() -> None:
    m = _model()
    assert m.status_events(_at(7, 59)) == []
    assert m.status_events(_at(8, 0, 1)) == [("JIF", {"jangubun": "6", "jstatus": "55"})]
    nxt = [x for x in m.status_events(_at(9, 0)) if x[1]["jangubun"] == "6"]
    assert [b["jstatus"] for _tr, b in nxt] == ["56", "21"]
    nxt = [x for x in m.status_events(_at(16, 0)) if x[1]["jangubun"] == "6"]
    assert [b["jstatus"] for _tr, b in nxt] == ["41", "57"]
    assert [b["jstatus"] for _tr, b in m.status_events(_at(20, 0, 1))] == ["58"]
    # 19:00: KRX is closed, NXT's after-market prints on NXT only, the KRX feeds stay quiet.
    frames = [f for k in range(400) for f in m.events("kospi", "005930", _at(19, 0, k % 60), ALL_TRS)]
    trs = {tr for tr, _b in frames}
    assert trs and trs <= {"NH1", "NS3", "NK1", "NVI", "UH1", "US3", "UK1", "UVI"}
    assert {b["exchname"] for tr, b in frames if tr == "US3"} == {"NXT"}
    assert m.events("kospi", "005930", _at(21), ALL_TRS) == []


def test_vi_happens_sometimes() -> None:
    model = _model(29)
    vis = []
    for _now, frames in _run(model, INSTRUMENTS[1], _at(9, 5), 20000, step_ns=20_000_000):
        vis += [b for tr, b in frames if tr == "VI_"]
    assert vis, "a 1,995-won stock walking its book should trigger some VI"
    assert {b["vi_gubun"] for b in vis} <= {"0", "1", "2", "3"}
    assert all(tuple(b) == spec("VI_").names for b in vis)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), idx=st.integers(0, len(INSTRUMENTS) - 1), hh=st.integers(7, 16))
def test_any_seed_any_time_keeps_books_uncrossed_and_on_grid(seed: int, idx: int, hh: int) -> None:
    inst = INSTRUMENTS[idx]
    model = MarketModel(INSTRUMENTS, random.Random(seed))
    depth = 10 if inst.market in ("kospi", "kosdaq") else 5
    for _now, frames in _run(model, inst, _at(hh, 17), 300, step_ns=1_000_000_000):
        for tr, body in frames:
            assert tuple(body) == spec(tr).names
            if tr in BOOKS:
                asks, bids = _book_levels(tr, body, depth)
                a, b = _dec(asks[0], inst.scale), _dec(bids[0], inst.scale)
                assert b < a and _on_grid(inst, a) and _on_grid(inst, b)


def test_state_is_lazy_and_deterministic() -> None:
    a, b = _model(31), _model(31)
    inst = INSTRUMENTS[0]
    fa = [f for _n, f in _run(a, inst, _at(10), 200)]
    fb = [f for _n, f in _run(b, inst, _at(10), 200)]
    assert fa == fb
    assert len(a._states) == 1  # the laziness is the point


def test_bodies_handed_out_never_change_afterwards() -> None:
    """The model keeps each TR's last body and updates it in place: frames must get copies."""
    model = _model(41)
    held: list[tuple[dict[str, str], dict[str, str]]] = []
    for inst in INSTRUMENTS:
        start = _at(8, 59, 30) if inst.market in ("kospi", "kosdaq") else _at(10)
        for _now, frames in _run(model, inst, start, 600, step_ns=200_000_000):
            held += [(body, dict(body)) for _tr, body in frames]
    assert len(held) > 5000
    assert all(body == copy for body, copy in held)


@pytest.mark.parametrize("seed", [43, 47])
def test_incremental_rendering_matches_rendering_from_scratch(seed: int) -> None:
    """Bodies re-rendered level by level equal bodies rendered from nothing at every step."""
    cached, fresh = _model(seed), _model(seed)
    rng = random.Random(seed)
    wants = [ALL_TRS, frozenset({"H1_", "S3_", "K1_", "FH9", "FC9", "OH0", "OVH", "OVC", "WOH"}), frozenset()]
    for start in (_at(8, 59, 40), _at(11), _at(15, 19, 50)):
        for k in range(1500):
            inst = INSTRUMENTS[rng.randrange(len(INSTRUMENTS))]
            now = start + k * 30_000_000
            want = wants[rng.randrange(len(wants))]
            for st_ in fresh._states.values():
                st_.shown.clear()
                st_.ranks.clear()
            got = cached.events(inst.market, inst.symbol, now, want)
            assert got == fresh.events(inst.market, inst.symbol, now, want), (inst.symbol, k)
