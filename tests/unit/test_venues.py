"""Venues and the new channels in the config and the selection, VI keys for every stock, and the
``session`` column over a simulated day: it follows the JIF transitions (and VI) as the journal
holds them, and a decoder resumed from its checkpoint state labels rows as one that read it all."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from functools import cache

import pytest

from gatherer.capture import Kind, Record, events
from gatherer.clock import SEOUL, seoul_ns
from gatherer.config import effective, parse_config
from gatherer.decode import Decoder
from gatherer.decode.phases import Phases
from gatherer.errors import ConfigError
from gatherer.plan import Limits, explain, pack
from gatherer.plan.broadcast import with_vi_everywhere
from gatherer.plan.select import Registration, select, select_with_notes
from gatherer.sim.market import MarketModel
from gatherer.sim.universe import Instrument
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.keys import format_tr_key, symbol_of
from tests.conftest import ls_example

MASTERS = {"kospi": ["005930", "000660"], "kosdaq": ["086520"], "kfutures": ["A0166000"]}
DAY = dt.date(2026, 5, 15)  # a Friday KRX trades


def test_venues_multiply_the_channels_vi_and_status_are_one_registration_each() -> None:
    cfg = parse_config(
        '[markets.kospi]\nvenues = ["krx", "nxt", "unified"]\n'
        'channels = ["book", "trade", "vi", "auction", "status"]\n'
        '[markets.kosdaq]\nvenues = ["nxt"]\nchannels = ["trade", "vi"]\n'
    )
    sel = select_with_notes(cfg, MASTERS)
    by_tr = Counter(r.tr_cd for r in sel.registrations)
    assert by_tr == {
        "H1_": 2, "S3_": 2, "NH1": 2, "NS3": 3, "UH1": 2, "US3": 2,
        "VI_": 1, "NVI": 1, "UVI": 1, "YS3": 2, "JIF": 1,
    }  # fmt: skip
    assert Registration("kospi", "vi", "VI_", "000000") in sel.registrations
    assert Registration("kosdaq", "trade", "NS3", "086520") in sel.registrations
    assert any("nxt has no auction feed" in n for n in sel.notes)
    keys = {r.tr_cd: r.tr_key for r in sel.registrations if r.channel == "vi"}
    assert keys == {"VI_": "000000", "NVI": "0000000000", "UVI": "0000000000"}
    assert {symbol_of(tr, k) for tr, k in keys.items()} == {"000000"}
    assert format_tr_key("NS3", "005930") == "N005930   " and format_tr_key("US3", "005930") == "U005930   "
    plan = pack(sel.registrations, app_keys=1, limits=Limits(3, 200, 20.0))
    assert "stock venues: krx 7, nxt 6, unified 5 registrations" in explain(sel, plan)


def test_default_venue_is_krx_and_derivatives_take_auction_and_status() -> None:
    cfg = parse_config('[markets.kospi]\n[markets.kfutures]\nchannels = ["trade", "auction", "status"]\n')
    assert cfg.venues_of("kospi") == ["krx"]
    shown = effective(cfg)["markets"]  # what `gatherer config check` prints
    assert shown["kospi"]["venues"] == ["krx"] and shown["kospi"]["channels"] == ["book", "trade", "broker"]
    regs = select(cfg, MASTERS)
    assert {r.tr_cd for r in regs} == {"H1_", "S3_", "K1_", "FC9", "YF9", "JIF"}


def test_every_worker_recording_a_venue_gets_its_vi_for_every_stock() -> None:
    cfg = parse_config('[markets.kospi]\nvenues = ["krx", "nxt"]\nchannels = ["trade", "vi"]\n')
    codes = [f"{i:06d}" for i in range(1, 61)]
    sel = select_with_notes(cfg, {"kospi": codes})
    plan = pack(sel.registrations, app_keys=2, limits=Limits(2, 40, 20.0, workers=2))
    assert len(plan.by_worker()) == 2
    before = sum(r.channel == "vi" for c in plan.connections for r in c.registrations)
    spread = with_vi_everywhere(plan)
    assert before == 2
    for conns in spread.by_worker().values():
        held = {r for c in conns for r in c.registrations}
        assert Registration("kospi", "vi", "VI_", "000000") in held
        assert Registration("kospi", "vi", "NVI", "000000") in held
    assert all(len(c.registrations) <= 40 for c in spread.connections)
    assert with_vi_everywhere(spread) == spread


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[markets.kospi]\nvenues = ["krx", "bats"]\n', r"markets.kospi.venues: \['bats'\] unknown"),
        ("[markets.kospi]\nvenues = []\n", "markets.kospi.venues: empty"),
        ('[markets.kospi]\nvenues = ["nxt", "nxt"]\n', "names a venue twice"),
        ('[markets.kfutures]\nvenues = ["krx"]\n', "markets.kfutures.venues: applies only to kospi, kosdaq"),
        ('[markets.ofutures]\nchannels = ["vi"]\n', r"markets.ofutures.channels: \['vi'\] not available"),
        (
            '[markets.kosdaq]\nvenues = ["nxt"]\nchannels = ["trade", "auction"]\n',
            r"markets.kosdaq.channels: 'auction' is served by none of venues \['nxt'\]; add 'krx' to venues",
        ),
    ],
)
def test_bad_venues_and_channels_are_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text)


# -- the session column over a simulated day --------------------------------------------------------

STOCKS = [
    Instrument("kospi", "005930", "삼성전자", Decimal(72400), 0, "stock", Decimal(1)),
    Instrument("kosdaq", "086520", "에코프로", Decimal(763000), 0, "stock", Decimal(1)),
]
WANT = frozenset({"H1_", "S3_", "HA_", "K3_", "NH1", "NS3", "UH1", "US3", "YS3", "YK3", "VI_", "NVI"})


def _hm(h: int, m: int) -> int:
    return h * 3600 + m * 60


# The simulated day, stated literally: KRX stocks 08:30 opening auction, 09:00-15:20 continuous,
# closing auction to 15:30; NXT pre-market 08:00-08:50, after-market 15:30-20:00.
KRX_DAY = [
    (_hm(8, 30), "pre_open"),
    (_hm(9, 0), "continuous"),
    (_hm(15, 20), "closing_auction"),
    (_hm(15, 30), "closed"),
]
NXT_DAY = [(_hm(8, 0), "nxt_pre"), (_hm(8, 50), "closed"), (_hm(9, 0), "continuous"), (_hm(15, 20), "closed"),
           (_hm(15, 30), "nxt_after"), (_hm(20, 0), "closed")]  # fmt: skip


def _expected(table: list[tuple[int, str]], sod: int) -> str:
    phase = "closed"
    for start, name in table:
        if sod >= start:
            phase = name
    return phase


@cache
def _day_records() -> tuple[Record, ...]:
    model = MarketModel(STOCKS, random.Random(5))
    records: list[Record] = []
    markets = events.StockMarkets(kospi=["005930"], kosdaq=["086520"])
    records.append(Record(Kind.EVENT, 0, seoul_ns(DAY, dt.time(7, 0)), "w00", events.encode(markets)))
    start = seoul_ns(DAY, dt.time(7, 50))
    for k in range(12 * 180 + 30):  # 07:50 to 20:10, every 20 s
        now = start + k * 20_000_000_000
        frames = model.status_events(now)
        for inst in STOCKS:
            frames += model.events(inst.market, inst.symbol, now, WANT)
        for tr, body in frames:
            symbol = body.get("shcode", "0")
            if tr in ("VI_", "NVI"):
                symbol = "000000"  # the registration for every stock
            frame = {"header": {"tr_cd": tr, "tr_key": format_tr_key(tr, symbol)}, "body": body}
            records.append(Record(Kind.FRAME, len(records), now, "c1", json.dumps(frame).encode()))
    return tuple(records)


def _rows(dec: Decoder, records: Sequence[Record]) -> list[dict[str, object]]:
    """Every row, with the market its batch is filed under as ``market``."""
    dec.add_all(records)
    assert not dec.quarantined
    out = []
    for b in dec.flush():
        table = b.table.select([c for c in _COLUMNS if c in b.table.column_names])
        out.extend({**r, "market": b.market} for r in table.to_pylist())
    return out


_COLUMNS = ("seq", "recv_ns", "tr_cd", "symbol", "venue", "session", "vi_gubun", "jangubun", "jstatus")


def test_session_follows_the_days_jif_transitions_and_vi() -> None:
    records = _day_records()
    rows = _rows(Decoder(batch_rows=5000), records)
    assert {(r["symbol"], r["market"]) for r in rows if r["tr_cd"] in ("NS3", "NH1", "US3")} == {
        ("005930", "kospi"),
        ("086520", "kosdaq"),
    }
    seen: Counter[tuple[str, object]] = Counter()
    for r in rows:
        sod = (r["recv_ns"] // 1_000_000_000 + 9 * 3600) % 86_400  # type: ignore[operator]
        venue, session = r["venue"], r["session"]
        seen[(str(venue), session)] += 1
        if r["tr_cd"] == "JIF":
            continue
        if venue == "nxt":
            want = _expected(NXT_DAY, sod)
        elif venue == "unified":
            krx = _expected(KRX_DAY, sod)
            want = krx if krx != "closed" else _expected(NXT_DAY, sod)
        else:
            want = _expected(KRX_DAY, sod)
        if session == "halted":
            assert want == "continuous", (r["tr_cd"], sod)
        else:
            assert session == want, (r["tr_cd"], sod, session, want)
    wanted = [
        ("krx", "pre_open"), ("krx", "continuous"), ("krx", "closing_auction"), ("krx", "halted"),
        ("nxt", "nxt_pre"), ("nxt", "continuous"), ("nxt", "nxt_after"), ("unified", "nxt_after"),
    ]  # fmt: skip
    for expect in wanted:
        assert seen[expect] > 0, (expect, seen)
    # JIF rows carry the phase they announce.
    assert {r["session"] for r in rows if r["tr_cd"] == "JIF"} >= {
        "pre_open",
        "continuous",
        "nxt_pre",
        "nxt_after",
    }


def test_a_decoder_resumed_from_its_state_labels_rows_as_one_that_read_everything() -> None:
    records = _day_records()
    whole = {r["seq"]: (r["session"], r["market"]) for r in _rows(Decoder(), records)}
    for cut in (len(records) // 2,):
        first = Decoder()
        _rows(first, records[:cut])
        state = json.loads(json.dumps(first.phases_state()))
        assert state["stock_markets"] == {"005930": "kospi", "086520": "kosdaq"}
        # The stock_markets event is in the part before the cut: the state carries it.
        later = _rows(Decoder(phases=state), records[cut:])
        assert later and all(whole[r["seq"]] == (r["session"], r["market"]) for r in later)


def test_vi_rows_of_every_stock_take_their_symbol_and_market_from_the_body() -> None:
    rows = [r for r in _rows(Decoder(), _day_records()) if r["tr_cd"] in ("VI_", "NVI")]
    assert rows and {r["symbol"] for r in rows} <= {"005930", "086520"}
    assert all(CATALOG[str(r["tr_cd"])].channel == "vi" for r in rows)
    # A VI's own row is halted when it starts in continuous trading; its release may come later.
    assert all(r["session"] == "halted" for r in rows if r["vi_gubun"] != "0" and r["session"] != "closed"), (
        rows
    )
    assert dt.datetime.fromtimestamp(int(rows[0]["recv_ns"]) / 1e9, SEOUL).date() == DAY  # type: ignore[call-overload]


_VENUE_OF_EXAMPLE = {
    "NH1": "nxt", "NS3": "nxt", "NK1": "nxt", "UH1": "unified", "US3": "unified", "UK1": "unified",
    "VI_": "krx", "YS3": "krx", "YK3": "krx", "JIF": None,
}  # fmt: skip


@pytest.mark.parametrize("tr", sorted(_VENUE_OF_EXAMPLE))
def test_ls_examples_carry_their_venue_and_the_timetables_session(tr: str) -> None:
    frame = ls_example(tr)["response"]
    dec = Decoder()
    recv = seoul_ns(DAY, dt.time(10, 0))
    dec.add(Record(Kind.FRAME, 1, recv, "c1", json.dumps(frame, ensure_ascii=False).encode()))
    assert not dec.quarantined
    (batch,) = dec.flush()
    (row,) = batch.table.to_pylist()
    assert row["venue"] == _VENUE_OF_EXAMPLE[tr]
    # 10:00 on a trading day, no JIF before: the regular timetable says continuous; LS's JIF
    # example (jstatus 21, 장시작) announces it too.
    assert row["session"] == "continuous"
    if tr == "VI_":  # vi_gubun 0: released, so it halts nothing
        assert row["vi_gubun"] == "0" and row["symbol"] == "145270"


def test_night_session_rows_are_night_and_day_rows_ignore_the_nights_jif() -> None:
    phases = Phases()
    phases.note_status(1, seoul_ns(DAY, dt.time(17, 59, 59)), "8", "21")
    after_midnight = seoul_ns(DAY + dt.timedelta(days=1), dt.time(0, 30))
    late = seoul_ns(DAY + dt.timedelta(days=1), dt.time(6, 0, 1))
    got = phases.column("kfutures", "krx", "DC0", [2, 3], [after_midnight, late], ["A0166000"] * 2)
    assert got == ["night", "night"]
    noon = seoul_ns(DAY, dt.time(12))
    assert phases.column("kfutures", "krx", "FC9", [4], [noon], ["A0166000"]) == ["continuous"]
    phases.note_status(5, late, "8", "41")
    assert phases.column("all", "", "JIF", [1, 5], [0, 0], ["0", "0"]) == ["night", "closed"]
