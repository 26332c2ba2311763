"""Backfill TRs (LS_OPENAPI.md §8) against the simulator, and the ``skip`` fault that makes gaps to fill.

Two layers. The market model alone: the print history renders, print for print, the cumulative
values the WebSocket trade frames carry (auctions, NXT and 통합 included), stays bounded, and keeps
one trading day apart from the next. Then over loopback, with no mocks: the real ``Session``
subscribes, the venue is told to ``skip`` some trade frames, and the real ``RestClient`` pages the
backfill TR until the hole in the WebSocket volume chain is filled exactly. Shapes and JSON value
types are checked against LS's own examples (tests/fixtures/ls_examples).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from gatherer.cli import build_parser
from gatherer.clock import seoul_ns
from gatherer.errors import ApiError, GathererError
from gatherer.sim.backfill import DERIV_PAGE_ROWS, STOCK_PAGE_ROWS, Page, page, parse_query
from gatherer.sim.market import MarketModel
from gatherer.sim.market.prints import PrintHistory, trading_day
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.universe import Instrument, Universe, build_universe
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.auth import Credentials, issue_token
from gatherer.venues.ls.catalog import MARKET_CHANNELS
from gatherer.venues.ls.keys import format_tr_key
from gatherer.venues.ls.ratelimit import TR_LIMITS, with_overrides
from gatherer.venues.ls.rest import RestClient
from gatherer.venues.ls.ws import Session

from ..conftest import MIDDAY, ls_example, sim_settings
from ..helpers.session import Recorder as SessionRecorder

RATE_SCALE = 20.0
CLIENT_LIMITS = with_overrides(TR_LIMITS, scale=RATE_SCALE)
SKIP = 5
DAY = MIDDAY.date()
"""The simulated day the model-only tests play (the universe as listed that day)."""
SPEED = 30.0
"""Simulated seconds per real second in the loopback tests: prints span minutes within seconds."""

Row = dict[str, Any]


# --- the market model alone ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def universe() -> Universe:
    return build_universe(seed=0, as_of=DAY)


def _pick(universe: Universe, market: str) -> Instrument:
    wanted = "future" if market == "kfutures" else None
    return next(i for i in universe.instruments[market] if wanted is None or i.kind == wanted)


def _all_rows(model: MarketModel, tr_cd: str, block: dict[str, Any], now_ns: int) -> tuple[list[Row], int]:
    """Every row of a request, following the continuation cursors, and how many pages it took."""
    query = parse_query(tr_cd, block, model.instrument)
    rows: list[Row] = []
    got: Page = page(model.prints, query, now_ns)
    pages = 1
    rows += got.rows
    while got.more is not None:
        got = page(model.prints, query, now_ns, got.more)
        rows += got.rows
        pages += 1
    return rows, pages


def _drive(
    model: MarketModel, insts: list[Instrument], start_ns: int, events: int, step_ns: int, want: set[str]
) -> tuple[dict[str, list[dict[str, str]]], int]:
    frames: dict[str, list[dict[str, str]]] = {}
    now = start_ns
    for k in range(events):
        now = start_ns + k * step_ns
        for inst in insts:
            for tr_cd, body in model.events(inst.market, inst.symbol, now, want):
                frames.setdefault(tr_cd, []).append(body)
    return frames, now


MODEL_TRS = {"S3_", "NS3", "US3", "FC9", "OC0", "OVC", "WOC"}


@pytest.mark.parametrize(
    ("start", "events", "step_ns"),
    [((8, 59, 40), 6000, 10_000_000), ((15, 19, 0), 7000, 100_000_000), ((15, 34, 0), 7000, 100_000_000)],
    ids=["opening-auction", "stock-closing-auction", "deriv-closing-auction"],
)
def test_history_renders_every_print_with_the_frames_cumulative_values(
    universe: Universe, start: tuple[int, int, int], events: int, step_ns: int
) -> None:
    markets = ("kospi", "kfutures", "koptions", "ofutures", "ooptions")
    insts = [_pick(universe, m) for m in markets]
    model = MarketModel(insts, random.Random(5))
    start_ns = seoul_ns(DAY, dt.time(*start))
    frames, now = _drive(model, insts, start_ns, events, step_ns, MODEL_TRS)
    stock, fut, opt, ofut, oopt = (i.symbol for i in insts)
    cases = [
        ("t1301", {"shcode": stock}, "S3_", "volume", "cvolume"),
        ("t8454", {"shcode": stock, "exchgubun": "K"}, "S3_", "volume", "cvolume"),
        ("t8454", {"shcode": stock, "exchgubun": "N"}, "NS3", "volume", "cvolume"),
        ("t8454", {"shcode": stock, "exchgubun": "U"}, "US3", "volume", "cvolume"),
        ("t2212", {"focode": fut}, "FC9", "volume", "cvolume"),
        ("t2201", {"focode": opt}, "OC0", "volume", "cvolume"),
        ("o3116", {"shcode": ofut, "readcnt": 500}, "OVC", "totq", "trdq"),
        ("o3136", {"shcode": ofut, "mktgb": "F", "readcnt": 500}, "OVC", "totq", "trdq"),
        ("o3136", {"shcode": oopt, "mktgb": "O", "readcnt": 500}, "WOC", "totq", "trdq"),
    ]
    for tr_cd, block, trade_tr, vol, cvol in cases:
        ws = frames.get(trade_tr, [])
        if not ws:
            continue  # e.g. stocks between the closing auction's end and its print: nothing traded
        rows, _pages = _all_rows(model, tr_cd, block, now)
        got = [(int(r["volume"]), r["cvolume"]) for r in reversed(rows)]
        assert got == [(int(b[vol]), int(b[cvol])) for b in ws], (tr_cd, block)
    # Every other field the rows share with the frames, print for print.
    by_volume = {
        r["volume"]: r for r in _all_rows(model, "t8454", {"shcode": stock, "exchgubun": "U"}, now)[0]
    }
    for b in frames.get("US3", []):
        r = by_volume[int(b["volume"])]
        assert (r["chetime"], str(r["price"]), r["sign"], r["exchname"]) == (
            b["chetime"],
            b["price"],
            b["sign"],
            b["exchname"],
        )
        assert (str(r["mdvolume"]), str(r["msvolume"]), str(r["mdchecnt"]), str(r["mschecnt"])) == (
            b["mdvolume"],
            b["msvolume"],
            b["mdchecnt"],
            b["mschecnt"],
        )
        assert (r["chdegree"], r["diff"], str(r["change"])) == (b["cpower"], b["drate"], b["change"])
    by_volume = {int(r["volume"]): r for r in _all_rows(model, "t2212", {"focode": fut}, now)[0]}
    for b in frames.get("FC9", []):
        r = by_volume[int(b["volume"])]
        assert (r["chetime"][:6], r["price"], r["sign"], r["change"], r["chdegree"]) == (
            b["chetime"],
            b["price"],
            b["sign"],
            b["change"],
            b["cpower"],
        )
        assert (r["offerho"], r["bidho"], str(r["openyak"]), r["value"]) == (
            b["offerho1"],
            b["bidho1"],
            b["openyak"],
            b["value"],
        )
        assert (r["n_msvolume"], r["n_mdvolume"], str(r["n_mschecnt"]), str(r["n_mdchecnt"])) == (
            b["msvolume"],
            b["mdvolume"],
            b["mschecnt"],
            b["mdchecnt"],
        )
        assert str(r["jnilopenupdn"]) == b["openyakcha"]
    by_volume = {r["volume"]: r for r in _all_rows(model, "o3116", {"shcode": ofut, "readcnt": 500}, now)[0]}
    for b in frames.get("OVC", []):
        r = by_volume[int(b["totq"])]
        assert (r["ovsdate"], r["ovstime"], r["price"], r["sign"], r["change"], r["diff"]) == (
            b["ovsdate"],
            b["trdtm"],
            b["curpr"],
            b["ydiffSign"],
            b["ydiffpr"],
            b["chgrate"],
        )


@pytest.mark.parametrize(
    ("market", "trade_tr", "rest_tr", "start", "step_ns", "at"),
    [
        ("kospi", "S3_", "t1301", (8, 59, 50), 10_000_000, "090000"),
        ("kospi", "S3_", "t1301", (15, 19, 0), 100_000_000, "153000"),
        ("kfutures", "FC9", "t2212", (8, 44, 50), 10_000_000, "084500"),
        ("kfutures", "FC9", "t2212", (15, 34, 0), 100_000_000, "154500"),
    ],
    ids=["stock-open", "stock-close", "future-open", "future-close"],
)
def test_auction_prints_are_in_the_history_and_move_no_side_volume(
    universe: Universe,
    market: str,
    trade_tr: str,
    rest_tr: str,
    start: tuple[int, int, int],
    step_ns: int,
    at: str,
) -> None:
    inst = _pick(universe, market)
    model = MarketModel([inst], random.Random(9))
    frames, now = _drive(model, [inst], seoul_ns(DAY, dt.time(*start)), 7000, step_ns, {trade_tr})
    ws = frames[trade_tr]
    # The call auction's single print: the window's first print at the open, its last at the close.
    i = 0 if ws[0]["chetime"] == at else len(ws) - 1
    assert ws[i]["chetime"] == at and len(ws) > 100
    field = "shcode" if rest_tr == "t1301" else "focode"
    rows, _ = _all_rows(model, rest_tr, {field: inst.symbol}, now)
    assert [int(r["volume"]) for r in reversed(rows)] == [int(b["volume"]) for b in ws]
    _assert_chain(rows)
    row = rows[len(ws) - 1 - i]
    side = ("mdvolume", "msvolume", "mdchecnt", "mschecnt")
    if rest_tr == "t2212":
        side = ("n_mdvolume", "n_msvolume", "n_mdchecnt", "n_mschecnt")
    before = rows[len(ws) - i] if i else dict.fromkeys(side, 0)
    assert [int(row[k]) for k in side] == [int(before[k]) for k in side]  # no side moved
    assert int(row["cvolume"]) == int(ws[i]["cvolume"]) > 0


def test_history_is_bounded_and_still_chains(universe: Universe) -> None:
    inst = _pick(universe, "ofutures")
    model = MarketModel([inst], random.Random(11))
    model.prints = PrintHistory(model._change, limit=50)
    frames, now = _drive(model, [inst], seoul_ns(DAY, dt.time(10)), 2000, 10_000_000, {"OVC"})
    assert len(frames["OVC"]) > 200
    assert model.prints.prints("ofutures", inst.symbol, trading_day(now)) == len(frames["OVC"])
    rows, pages = _all_rows(model, "o3116", {"shcode": inst.symbol, "readcnt": 7}, now)
    assert len(rows) == 50 and pages == 8
    newest = frames["OVC"][-1]
    assert (rows[0]["volume"], rows[0]["cvolume"]) == (int(newest["totq"]), int(newest["trdq"]))
    _assert_chain(rows)


def test_a_new_trading_day_starts_an_empty_history_and_keeps_yesterdays_for_o3136(universe: Universe) -> None:
    inst = _pick(universe, "ofutures")
    model = MarketModel([inst], random.Random(13))
    day1, _ = _drive(model, [inst], seoul_ns(DAY, dt.time(10)), 500, 10_000_000, {"OVC"})
    day2, now = _drive(
        # 08:00 Seoul: CME reopens after its daily break (07:00-08:00 in US standard time).
        model, [inst], seoul_ns(DAY + dt.timedelta(days=1), dt.time(8, 0, 1)), 300, 10_000_000, {"OVC"}
    )
    assert day1["OVC"] and day2["OVC"]
    today, _ = _all_rows(model, "o3116", {"shcode": inst.symbol, "readcnt": 100}, now)
    assert [r["volume"] for r in reversed(today)] == [int(b["totq"]) for b in day2["OVC"]]
    block = {"gubun": "1", "mktgb": "F", "shcode": inst.symbol, "readcnt": 100}
    yesterday, _ = _all_rows(model, "o3136", block, now)
    assert [r["volume"] for r in reversed(yesterday)] == [int(b["totq"]) for b in day1["OVC"]]
    # o3116 reaches today only; t1301 knows nothing of a stock that never traded.
    with pytest.raises(ValueError, match="gubun"):
        parse_query("o3116", {"gubun": "1", "shcode": inst.symbol}, model.instrument)


def test_a_first_call_with_a_cts_resumes_where_the_continuation_would(universe: Universe) -> None:
    insts = [_pick(universe, "kospi"), _pick(universe, "ofutures")]
    model = MarketModel(insts, random.Random(17))
    _frames, now = _drive(model, insts, seoul_ns(DAY, dt.time(10)), 3000, 5_000_000, MODEL_TRS)
    for tr_cd, block, cts_name in (
        ("t1301", {"shcode": insts[0].symbol}, "cts_time"),
        ("t8454", {"shcode": insts[0].symbol, "exchgubun": "U"}, "cts_time"),
        ("o3116", {"shcode": insts[1].symbol, "readcnt": 30}, "cts_seq"),
    ):
        query = parse_query(tr_cd, block, model.instrument)
        first = page(model.prints, query, now)
        assert first.more is not None
        second = page(model.prints, query, now, first.more)
        fresh = parse_query(tr_cd, {**block, cts_name: first.out_block[cts_name]}, model.instrument)
        assert page(model.prints, fresh, now).rows == second.rows, tr_cd


# --- over loopback: skip, then backfill ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    market: str
    trade_tr: str
    rest_tr: str
    inblock: dict[str, Any]
    """The full InBlock, code left out."""
    code_field: str
    volume: str
    cvolume: str
    page_rows: int
    times: tuple[str, str] | None
    """InBlock names of the HHMM bounds, if the TR has them."""


CASES = [
    Case(
        "stock-t1301",
        "kospi",
        "S3_",
        "t1301",
        {"cvolume": 0, "starttime": "", "endtime": "", "cts_time": ""},
        "shcode",
        "volume",
        "cvolume",
        STOCK_PAGE_ROWS,
        ("starttime", "endtime"),
    ),
    Case(
        "stock-t8454-U",
        "kospi",
        "US3",
        "t8454",
        {"cvolume": 0, "starttime": "", "endtime": "", "cts_time": "", "exchgubun": "U"},
        "shcode",
        "volume",
        "cvolume",
        STOCK_PAGE_ROWS,
        ("starttime", "endtime"),
    ),
    Case(
        "kfuture-t2212",
        "kfutures",
        "FC9",
        "t2212",
        {"cvolume": 0, "stime": "", "etime": "", "cts_time": ""},
        "focode",
        "volume",
        "cvolume",
        DERIV_PAGE_ROWS,
        ("stime", "etime"),
    ),
    Case(
        "ofuture-o3116",
        "ofutures",
        "OVC",
        "o3116",
        {"gubun": "0", "readcnt": 20, "cts_seq": 0},
        "shcode",
        "totq",
        "trdq",
        20,
        None,
    ),
    Case(
        "ooption-o3136",
        "ooptions",
        "WOC",
        "o3136",
        {"gubun": "0", "mktgb": "O", "readcnt": 20, "cts_seq": 0},
        "shcode",
        "totq",
        "trdq",
        20,
        None,
    ),
]

GOLDEN = {
    "t1301": "t1301",
    "t8454": "t8454",
    "t2212": "t2201",
    "t2201": "t2201",
    "o3116": "o3116",
    "o3136": "o3136",
}
"""LS publishes no t2212 example: t2201's (same fields, older price widths) stands in (§8.3)."""


class Recorder(SessionRecorder):
    """Every data frame a session receives, in order and by TR, and waits on conditions over them."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[tuple[str, str, dict[str, str]]] = []
        self.by_tr: dict[str, list[dict[str, str]]] = defaultdict(list)

    def __call__(self, payload: bytes, recv_ns: int) -> None:
        frame = json.loads(payload)
        header = frame["header"]
        if "rsp_cd" not in header:
            self.frames.append((header["tr_cd"], header["tr_key"], frame["body"]))
            self.by_tr[header["tr_cd"]].append(frame["body"])
        super().__call__(payload, recv_ns)  # keeps the raw frame and wakes the waiters

    def of(self, tr_cd: str) -> list[dict[str, str]]:
        return self.by_tr[tr_cd]


async def _token(sim: Simulator) -> str:
    async with aiohttp.ClientSession() as http:
        token = await issue_token(http, sim.rest_url, "bf-app-key", "bf-app-secret", clock=sim.clock)
    return token.access_token


def _rest(sim: Simulator) -> Any:
    return RestClient.open(
        sim.rest_url,
        Credentials("bf-app-key", "bf-app-secret"),
        limits=CLIENT_LIMITS,
        rnd=random.Random(1),
        clock=sim.clock,
    )


def _rows(bodies: list[dict[str, Any]], tr_cd: str) -> list[Row]:
    return [row for body in bodies for row in body[f"{tr_cd}OutBlock1"]]


def _assert_chain(rows: list[Row]) -> None:
    """Newest first: volume[i] = volume[i+1] + cvolume[i] all the way down."""
    vols = [int(r["volume"]) for r in rows]
    assert len(set(vols)) == len(vols), "a print appears twice"
    for newer, older in itertools.pairwise(rows):
        assert int(newer["volume"]) == int(older["volume"]) + int(newer["cvolume"]), (newer, older)


def _time_of(case: Case, body: dict[str, str] | Row, rest: bool) -> str:
    """A frame's or a row's exchange time, comparable between the two."""
    if case.market in ("ofutures", "ooptions"):
        return str(body["ovsdate"]) + str(body["ovstime"] if rest else body["trdtm"])
    return str(body["chetime"])[:6]


def _assert_like_ls(tr_cd: str, body: dict[str, Any]) -> None:
    """OutBlock and row keys and JSON value types as in LS's example for the TR."""
    example = ls_example(GOLDEN[tr_cd])["response"]
    ex_tr = GOLDEN[tr_cd]
    out, ex_out = body[f"{tr_cd}OutBlock"], example[f"{ex_tr}OutBlock"]
    assert {k: type(v) for k, v in out.items()} == {k: type(v) for k, v in ex_out.items()}, tr_cd
    ex_row = example[f"{ex_tr}OutBlock1"][0]
    ex_types = {k: type(v) for k, v in ex_row.items()}
    rows = body[f"{tr_cd}OutBlock1"]
    assert rows
    for row in rows:
        assert {k: type(v) for k, v in row.items()} == ex_types, (tr_cd, row)
    assert body["rsp_cd"] == example["rsp_cd"] == "00000"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_skipped_trade_frames_are_filled_exactly_by_the_backfill_tr(case: Case) -> None:
    settings = sim_settings(
        speed=SPEED, stream=StreamSettings(rate_fps=1000.0), limits=VenueLimits(rest_rate_scale=RATE_SCALE)
    )
    async with Simulator(settings) as sim:
        inst = _pick(sim.universe, case.market)
        code = inst.symbol
        key = format_tr_key(case.trade_tr, code)
        book_tr = MARKET_CHANNELS[case.market]["book"]
        token = await _token(sim)
        rec = Recorder()
        session = await Session.connect(sim.ws_url, "bf-1", rec)
        try:
            await session.subscribe(token, case.trade_tr, key, check=True)
            await session.subscribe(token, book_tr, format_tr_key(book_tr, code), check=True)
            await rec.until(lambda: len(rec.of(case.trade_tr)) >= 3)
            assert sim.inject("skip", count=SKIP, tr_cd=case.trade_tr, tr_key=key) == SKIP

            def gap_passed() -> bool:
                trades = rec.of(case.trade_tr)
                return len(sim.hub.skipped) == SKIP and int(trades[-1][case.volume]) > sim.hub.skipped[-1][2]

            await rec.until(gap_passed)
            if case.times is not None:  # let the prints span two minutes, for the time filters
                await rec.until(lambda: len({b["chetime"][:4] for b in rec.of(case.trade_tr)}) >= 2)
            await rec.until(lambda: len(rec.of(case.trade_tr)) > case.page_rows + 50)
            sim.hub.paused = True  # no more prints: WS and REST now see the same day
            conn = next(iter(sim.hub.connections.values()))
            await rec.until(lambda: len(rec.frames) == conn.frames_sent)
        finally:
            await session.close()

        # The skip fault: exactly SKIP frames of this TR and key, and nothing else, went unsent.
        assert [(tr, k) for tr, k, _v in sim.hub.skipped] == [(case.trade_tr, key)] * SKIP
        assert sim.status()["frames_skipped_total"] == SKIP
        skipped = [v for _tr, _k, v in sim.hub.skipped]

        # The WebSocket chain has exactly one hole, right where the skipped frames were.
        ws = [(int(b[case.volume]), int(b[case.cvolume])) for b in rec.of(case.trade_tr)]
        assert ws[0][0] == ws[0][1]  # the day's first print: nothing before it
        holes = [i for i in range(1, len(ws)) if ws[i][0] - ws[i][1] != ws[i - 1][0]]
        assert len(holes) == 1, holes
        after = holes[0]
        v_a, v_b, c_b = ws[after - 1][0], ws[after][0], ws[after][1]
        assert v_a < skipped[0] and skipped[-1] == v_b - c_b

        # Book frames kept coming while the trades were skipped.
        order = [(tr, b) for tr, _k, b in rec.frames]
        i_a = next(i for i, (tr, b) in enumerate(order) if tr == case.trade_tr and int(b[case.volume]) == v_a)
        i_b = next(i for i, (tr, b) in enumerate(order) if tr == case.trade_tr and int(b[case.volume]) == v_b)
        assert sum(1 for tr, _b in order[i_a:i_b] if tr == book_tr) >= SKIP

        async with _rest(sim) as rest:
            block = {**case.inblock, case.code_field: code}
            bodies = await rest.call(case.rest_tr, block)
            rows = _rows(bodies, case.rest_tr)

            # Paging: full pages, each OutBlock naming its oldest row, until the day's first print.
            assert len(bodies) >= 2
            assert all(len(b[f"{case.rest_tr}OutBlock1"]) == case.page_rows for b in bodies[:-1])
            for body in bodies:
                _assert_like_ls(case.rest_tr, body)
                out, last = body[f"{case.rest_tr}OutBlock"], body[f"{case.rest_tr}OutBlock1"][-1]
                if case.times is None:
                    assert isinstance(out["cts_seq"], int) and out["cts_seq"] > 0
                elif case.rest_tr == "t2212":
                    assert out["cts_time"] == last["chetime"]
                else:
                    assert len(out["cts_time"]) == 10 and out["cts_time"][:6] == last["chetime"]
            if case.rest_tr == "t8454":
                assert bodies[0]["t8454OutBlock"]["ex_shcode"] == "U" + code

            # The rows are every print of the day: what WS delivered plus what it skipped.
            _assert_chain(rows)
            assert int(rows[-1]["volume"]) == rows[-1]["cvolume"]
            assert sorted(int(r["volume"]) for r in rows) == sorted([v for v, _c in ws] + skipped)
            by_volume = {int(r["volume"]): r for r in rows}
            for b in rec.of(case.trade_tr):
                r = by_volume[int(b[case.volume])]
                assert r["cvolume"] == int(b[case.cvolume])
                assert _time_of(case, r, rest=True) == _time_of(case, b, rest=False)

            # The gap, filled: from V_b - c_b back to V_a the rows chain with exactly the skipped prints.
            gap = [r for r in rows if v_a < int(r["volume"]) <= v_b - c_b]
            assert sorted(int(r["volume"]) for r in gap) == skipped
            assert sum(r["cvolume"] for r in gap) == v_b - c_b - v_a
            _assert_chain([*gap, by_volume[v_a]])

            if case.times is not None:
                await _check_time_filters(rest, case, block, rows)
            else:
                await _check_cts_seq(rest, case, block, rows)


async def _check_time_filters(rest: RestClient, case: Case, block: dict[str, Any], rows: list[Row]) -> None:
    assert case.times is not None
    start_name, end_name = case.times
    minutes = sorted({str(r["chetime"])[:4] for r in rows})
    assert len(minutes) >= 2
    first = minutes[0]
    bodies = await rest.call(case.rest_tr, {**block, start_name: first, end_name: first})
    only = _rows(bodies, case.rest_tr)
    assert only == [r for r in rows if str(r["chetime"])[:4] == first]
    assert 0 < len(only) < len(rows)
    later = minutes[1]
    bodies = await rest.call(case.rest_tr, {**block, start_name: later})
    assert _rows(bodies, case.rest_tr) == [r for r in rows if str(r["chetime"])[:4] >= later]
    # cvolume: t1301/t8454 keep rows above it, t2212 rows at or above it.
    floor = sorted(r["cvolume"] for r in rows)[len(rows) // 2]
    bodies = await rest.call(case.rest_tr, {**block, "cvolume": floor})
    keep: Callable[[int], bool] = (lambda c: c >= floor) if case.rest_tr == "t2212" else (lambda c: c > floor)
    assert _rows(bodies, case.rest_tr) == [r for r in rows if keep(r["cvolume"])]


async def _check_cts_seq(rest: RestClient, case: Case, block: dict[str, Any], rows: list[Row]) -> None:
    # cts_seq names a print: a fresh request from it answers what follows it, whatever the key.
    mid = len(rows) // 2
    oldest_seq = len(rows)  # every print is kept: the oldest row is print 1
    seq = oldest_seq - mid  # the sequence number of rows[mid]
    bodies = await rest.call(case.rest_tr, {**block, "cts_seq": seq})
    assert _rows(bodies, case.rest_tr) == rows[mid + 1 :]
    if case.rest_tr == "o3136":
        bodies = await rest.call(case.rest_tr, {**block, "gubun": "1"})  # yesterday: the venue had no day
        assert bodies[0]["o3136OutBlock1"] == [] and bodies[0]["rsp_msg"] == "해당자료가 없습니다."


# --- errors, pacing, the fault's controls ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("tr_cd", "block", "field"),
    [
        (
            "t1301",
            {"shcode": "999999", "cvolume": 0, "starttime": "", "endtime": "", "cts_time": ""},
            "shcode",
        ),
        ("t8454", {"shcode": "ABCDEF", "exchgubun": "N"}, "shcode"),
        ("t2212", {"focode": "Z9999999", "cvolume": 0, "stime": "", "etime": "", "cts_time": ""}, "focode"),
        ("o3116", {"gubun": "0", "shcode": "NOPE26", "readcnt": 20, "cts_seq": 0}, "shcode"),
        ("o3136", {"gubun": "0", "mktgb": "O", "shcode": "ESM26", "readcnt": 20, "cts_seq": 0}, "shcode"),
        ("o3136", {"gubun": "0", "mktgb": "X", "shcode": "ESM26", "readcnt": 20, "cts_seq": 0}, "mktgb"),
        ("t1301", {"shcode": "<stock>", "starttime": "9:00"}, "starttime"),
    ],
)
async def test_a_bad_request_is_refused_naming_the_field(
    sim: Simulator, tr_cd: str, block: dict[str, Any], field: str
) -> None:
    if block.get("shcode") == "<stock>":
        block = {**block, "shcode": _pick(sim.universe, "kospi").symbol}
    async with _rest(sim) as rest:
        with pytest.raises(ApiError, match=f"IGW40014.*{tr_cd}InBlock.{field}") as err:
            await rest.call(tr_cd, block)
    assert str(block.get(field, "")) in str(err.value)


async def test_a_known_code_with_no_prints_answers_no_rows(sim: Simulator) -> None:
    code = _pick(sim.universe, "kosdaq").symbol
    async with _rest(sim) as rest:
        (body,) = await rest.call("t8454", {"shcode": code, "exchgubun": "K"})
    assert body["t8454OutBlock1"] == [] and body["rsp_msg"] == "해당자료가 없습니다."
    assert body["t8454OutBlock"] == {"cts_time": "", "ex_shcode": code}


async def _raw(
    sim: Simulator, http: aiohttp.ClientSession, tr_cd: str, path: str, block: dict[str, Any], **h: str
) -> Any:
    token = await _token(sim)
    headers = {"authorization": f"Bearer {token}", "tr_cd": tr_cd, "tr_cont": "N", "tr_cont_key": "", **h}
    async with http.post(sim.rest_url + path, json={f"{tr_cd}InBlock": block}, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_backfill_trs_are_paced_per_app_key_and_tr_and_keys_are_checked(sim: Simulator) -> None:
    code = _pick(sim.universe, "kospi").symbol
    async with aiohttp.ClientSession() as http:
        # t8454 allows one call a second (§8.1): the second call within the second is refused.
        first = await _raw(sim, http, "t8454", "/stock/market-data", {"shcode": code})
        second = await _raw(sim, http, "t8454", "/stock/market-data", {"shcode": code})
        assert first[0] == 200 and second == (
            500,
            {"rsp_cd": "IGW00201", "rsp_msg": "호출 거래건수를 초과하였습니다."},
        )
        wrong = await _raw(sim, http, "t1301", "/stock/etc", {"shcode": code})
        assert wrong[1]["rsp_cd"] == "IGW00312"
        bogus = await _raw(
            sim, http, "t1301", "/stock/market-data", {"shcode": code}, tr_cont="Y", tr_cont_key="x"
        )
        assert bogus[1]["rsp_cd"] == "IGW00313"


async def test_skip_is_armed_from_the_command_line_and_the_control_endpoint(sim: Simulator) -> None:
    code = _pick(sim.universe, "kospi").symbol
    args = build_parser().parse_args(
        ["fault", "skip", "--url", sim.rest_url, "--count", "3", "--tr", "NS3", "--key", "N" + code]
    )
    assert await args.func(args) == 0
    (rule,) = sim.faults.skip
    assert (rule.left, rule.tr_cd, rule.symbol) == (3, "NS3", code)
    bad = build_parser().parse_args(["fault", "skip", "--url", sim.rest_url, "--tr", "H1_"])
    with pytest.raises(GathererError, match="not a trade TR"):
        await bad.func(bad)
    assert sim.inject("skip", count=2) == 2  # any trade TR, any key
    assert [(r.left, r.tr_cd, r.symbol) for r in sim.faults.skip] == [(3, "NS3", code), (2, None, None)]
