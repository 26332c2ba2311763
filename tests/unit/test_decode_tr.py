"""Decoder per TR: LS's example frames as goldens, round trips in each TR's format, quarantine reasons,
simulator frames, trading days around the cutoff, exchange times across midnight, and a large H1_
batch (its speed is measured by bench/decode.py)."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatherer.capture import Kind, Record
from gatherer.clock import SEOUL, seoul_ns
from gatherer.decode import REASONS, Batch, Decoder, column_name, schema_for
from gatherer.sim.market import MarketModel
from gatherer.sim.universe import Instrument
from gatherer.venues.ls.catalog import CATALOG, Field
from gatherer.venues.ls.keys import format_tr_key
from tests.conftest import FIXTURES, ls_example

DAY = dt.date(2026, 5, 15)
EXAMPLE_TRS = sorted(p.stem for p in (FIXTURES / "ls_examples").glob("*.json") if p.stem in CATALOG)
CORRUPT = {"WOH", "WOC"}  # LS's own examples are misaligned slices (ls_examples/README.md)


def _at(day: dt.date, hh: int, mm: int = 0, ss: int = 0, ns: int = 0) -> int:
    return seoul_ns(day, dt.time(hh, mm, ss)) + ns


def _record(frame: dict[str, Any] | bytes, recv_ns: int | None = None, seq: int = 1) -> Record:
    payload = frame if isinstance(frame, bytes) else json.dumps(frame, ensure_ascii=False).encode()
    return Record(Kind.FRAME, seq, _at(DAY, 10) if recv_ns is None else recv_ns, "c1", payload)


def _decode_one(frame: dict[str, Any] | bytes, dec: Decoder | None = None, **kw: Any) -> dict[str, Any]:
    dec = dec or Decoder()
    dec.add(_record(frame, **kw))
    assert not dec.quarantined, dec.quarantined
    batches = dec.flush()
    assert len(batches) == 1 and batches[0].table.num_rows == 1
    row: dict[str, Any] = batches[0].table.to_pylist()[0]
    return row


def _expected(field: Field, text: str) -> object:
    """What the example string means, worked out independently of the parsers."""
    if text.strip() == "":
        return None
    if field.kind == "int":
        return int(text)
    if field.kind == "dec":
        return Decimal(text.split()[-1])
    return text


# -- goldens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tr", [t for t in EXAMPLE_TRS if t not in CORRUPT])
def test_ls_example_decodes_field_by_field(tr: str) -> None:
    frame = ls_example(tr)["response"]
    body: dict[str, str] = frame["body"]
    spec = CATALOG[tr]
    batches_before = Decoder()
    row = _decode_one(frame, batches_before)
    assert row["tr_cd"] == tr and row["seq"] == 1 and row["conn_id"] == "c1" and row["extra"] is None
    tr_key = frame["header"]["tr_key"]
    assert row["symbol"] == (tr_key.rstrip()[1:] if spec.venue in ("nxt", "unified") else tr_key.rstrip())
    for f in spec.fields:
        got = row[column_name(f.name)]
        if f.name not in body:
            assert got is None, f"{tr}.{f.name} is missing from the example and must be null, got {got!r}"
            continue
        want = _expected(f, body[f.name])
        if f.name == spec.key_field and isinstance(want, str):
            want = want.rstrip(" ")
        assert got == want, f"{tr}.{f.name}: sent {body[f.name]!r}, decoded {got!r}"
        assert type(got) is type(want) or want is None
    assert batches_before.rows_total == 1
    assert set(row) == set(schema_for(tr).names)


def test_ls_examples_specific_quirks() -> None:
    ovc = _decode_one(ls_example("OVC")["response"])
    assert ovc["symbol"] == "NQU23" and ovc["body_symbol"] == "NQU23"
    assert ovc["curpr"] == Decimal("14997.75") and ovc["ydiffpr"] == Decimal("46.25")
    assert ovc["chgrate"] == Decimal("-0.31")
    assert ovc["mdvolume"] is None and ovc["ovsmkend"] is None
    # trdtm 00:16:40 Chicago (CDT) on 2023-06-22 is kortm 14:16:40 Seoul: both name the same instant.
    assert ovc["trdtm_ts"] == ovc["kortm_ts"] == dt.datetime(2023, 6, 22, 14, 16, 40, tzinfo=SEOUL)
    k1 = _decode_one(ls_example("K1_")["response"])
    assert k1["offertrad3"] == "BNK 증" and k1["ftradmscha"] == 143169
    h1 = _decode_one(ls_example("H1_")["response"])
    assert h1["alloc_gubun"] is None and h1["midprice"] is None and h1["offerho1"] == 72400
    assert h1["hotime_ts"] == dt.datetime(2026, 5, 15, 8, 42, 42, tzinfo=SEOUL)
    uh1 = _decode_one(ls_example("UH1")["response"])
    assert uh1["symbol"] == "005930" and uh1["volume"] is None


@pytest.mark.parametrize("tr", sorted(CORRUPT))
def test_corrupt_ls_examples_never_raise(tr: str) -> None:
    dec = Decoder()
    dec.add(_record(ls_example(tr)["response"]))
    rows = sum(b.table.num_rows for b in dec.flush())
    assert rows + sum(dec.quarantined_total.values()) == 1
    assert set(dec.quarantined_total) <= {"bad_value", "bad_key"}


def test_schema_types_follow_the_catalog() -> None:
    s = schema_for("OVC")
    assert s.field("curpr").type == pa.decimal128(24, 9)
    assert s.field("chgrate").type == pa.decimal128(8, 2)
    assert s.field("totq").type == pa.int64()
    assert s.field("trdtm").type == pa.string() and s.field("trdtm_ts").type == pa.timestamp(
        "ns", "Asia/Seoul"
    )
    assert s.names[:6] == ["seq", "recv_ns", "trading_day", "tr_cd", "conn_id", "symbol"]
    assert s.names[-1] == "extra"
    assert schema_for("H1_").field("trading_day").type == pa.date32()


# -- properties per TR ----------------------------------------------------------------------------


def _value(draw: st.DrawFn, f: Field) -> tuple[str, object]:
    """A wire string in the field's documented format and the value it must decode to."""
    if f.kind == "int":
        value = draw(st.integers(min_value=0, max_value=10 ** min(f.length, 18) - 1))
        text = str(value)
        style = draw(st.sampled_from(["plain", "zero", "plus", "minus"]))
        if style == "zero":
            text = text.zfill(f.length)
        elif style == "plus":
            text = "+" + text
        elif style == "minus":
            text, value = "-" + text.zfill(draw(st.integers(1, f.length))), -value
        return text, value
    if f.kind == "dec":
        whole = draw(st.integers(min_value=0, max_value=10**f.length - 1))
        frac = draw(st.text(alphabet="0123456789", max_size=f.scale))
        text = f"{whole}.{frac}" if frac else str(whole)
        text = draw(st.sampled_from([text, "-" + text, "0. " + text]))
        return text, Decimal(text.split()[-1])
    if f.kind == "time":
        t = draw(st.times()).strftime("%H%M%S")
        return t, t
    if f.kind == "date":
        d = draw(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))).strftime("%Y%m%d")
        return d, d
    text = draw(st.text(alphabet="ABC가나 123+-", min_size=1, max_size=f.length).filter(lambda s: s.strip()))
    return text, text


@st.composite
def bodies(draw: st.DrawFn, tr: str) -> tuple[dict[str, Any], dict[str, object]]:
    spec = CATALOG[tr]
    body: dict[str, Any] = {}
    want: dict[str, object] = {}
    for f in spec.fields:
        choice = draw(st.sampled_from(["value", "value", "value", "blank", "missing"]))
        if choice == "missing":
            want[f.name] = None
        elif choice == "blank":
            body[f.name] = draw(st.sampled_from(["", " "]))
            want[f.name] = None
        else:
            body[f.name], want[f.name] = _value(draw, f)
            if f.name == spec.key_field:
                want[f.name] = str(want[f.name]).rstrip(" ") or None
    keys = list(body)
    draw(st.randoms(use_true_random=False)).shuffle(keys)
    return {k: body[k] for k in keys}, want


def _frame(tr: str, body: dict[str, Any]) -> dict[str, Any]:
    key = {"stock6": "005930", "nxt10": "N005930   ", "unified10": "U005930   ", "deriv8": "A0166000"}
    style = CATALOG[tr].key_style
    tr_key = key.get(style, "0" if style == "zero" else "NQU23   ")
    return {"header": {"tr_cd": tr, "tr_key": tr_key}, "body": body}


@pytest.mark.parametrize("tr", sorted(CATALOG))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_body_in_the_tr_format_round_trips(tr: str, data: st.DataObject) -> None:
    body, want = data.draw(bodies(tr))
    extra = data.draw(st.none() | st.just({"zz_new_field": "7", "zz_other": ""}))
    row = _decode_one(_frame(tr, {**body, **(extra or {})}))
    for name, value in want.items():
        assert row[column_name(name)] == value, (name, body.get(name))
    assert row["extra"] == (None if extra is None else json.dumps(extra, separators=(",", ":")))
    # The same body in another key order decodes to the same row.
    shuffled = dict(reversed(list(body.items())))
    again = _decode_one(_frame(tr, {**shuffled, **(extra or {})}))
    assert {k: v for k, v in again.items()} == row


NUMERIC = {
    tr: [f for f in spec.fields if f.kind in ("int", "dec", "time", "date")] for tr, spec in CATALOG.items()
}


@pytest.mark.parametrize("tr", sorted(tr for tr in CATALOG if NUMERIC[tr]))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_malformed_value_goes_to_quarantine_naming_the_field(tr: str, data: st.DataObject) -> None:
    body, _ = data.draw(bodies(tr))
    f = data.draw(st.sampled_from(NUMERIC[tr]))
    good = body.get(f.name) or "1"
    bad = data.draw(
        st.sampled_from(
            [good + "x", "1.2.3", "12a4", "--1", "1" + "." + "9" * (f.scale + 1)]
            + (["12:00:00", "250000"] if f.kind == "time" else [])
            + (["2023-06-22", "20231301"] if f.kind == "date" else [])
        )
    )
    body[f.name] = bad
    dec = Decoder()
    dec.add(_record(_frame(tr, body), seq=42))
    assert dec.flush() == []
    (q,) = dec.take_quarantine()
    assert (q.reason, q.seq, q.tr_cd) == ("bad_value", 42, tr)
    assert f" {f.name}=" in q.detail and repr(bad)[:50] in q.detail
    assert json.loads(q.payload)["body"][f.name] == bad
    assert dec.quarantined_total == {"bad_value": 1} and dec.rows_total == 0


# -- envelope --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not_json"),
        (b'{"header": {"tr_cd": "H1_"', "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "no_header"),
        (b'{"body": {}}', "no_header"),
        (b'{"header": {"tr_key": "005930"}, "body": {}}', "no_header"),
        (b'{"header": {"tr_cd": 5}, "body": {}}', "no_header"),
        (b'{"header": {"tr_cd": "ZZ9", "tr_key": "1"}, "body": {}}', "unknown_tr"),
        (b'{"header": {"tr_cd": "H1_", "tr_key": "005930"}, "body": null}', "body_not_object"),
        (b'{"header": {"tr_cd": "H1_", "tr_key": "005930"}, "body": ["1"]}', "body_not_object"),
        (b'{"header": {"tr_cd": "H1_", "tr_key": "5930"}, "body": {}}', "bad_key"),
        (b'{"header": {"tr_cd": "H1_"}, "body": {"hotime": "090000"}}', "bad_key"),
        (b'{"header": {"tr_cd": "H1_", "tr_key": "005930"}, "body": {"offerho1": [1]}}', "bad_value"),
    ],
)
def test_undecodable_frames_are_quarantined_with_a_reason_never_raised(payload: bytes, reason: str) -> None:
    dec = Decoder()
    dec.add(_record(payload, seq=9))
    # A body is read when its rows are typed (at the latest at flush): a bad one is found then.
    assert dec.flush() == [] and dec.frames_total == 1
    assert dec.quarantined_total == {reason: 1} and reason in REASONS
    (q,) = dec.quarantined
    assert q.payload == payload and q.seq == 9 and q.conn_id == "c1" and q.detail


def test_acks_are_counted_and_other_records_skipped() -> None:
    dec = Decoder()
    ok = {
        "header": {"tr_cd": "S3_", "tr_key": "005930", "tr_type": "3", "rsp_cd": "00000", "rsp_msg": "정상"}
    }
    refused = {"header": {"tr_cd": None, "rsp_cd": "IGW00201", "rsp_msg": "x"}, "body": None}
    dec.add(_record({**ok, "body": None}))
    dec.add(_record(refused))
    dec.add(Record(Kind.SENT, 3, 0, "c1", b'{"header": {}}'))
    dec.add(Record(Kind.EVENT, 4, 0, "c1", b"{}"))
    assert (dec.skipped_total, dec.frames_total) == (4, 2)  # acks, SENT and EVENT: none is a row
    assert dec.flush() == [] and not dec.quarantined


def test_json_numbers_are_tolerated_and_missing_key_falls_back_to_the_body() -> None:
    row = _decode_one(
        {"header": {"tr_cd": "FC0"}, "body": {"price": 346.2, "volume": 136, "futcode": "101T9000"}}
    )
    assert row["price"] == Decimal("346.20") and row["volume"] == 136 and row["symbol"] == "101T9000"
    row = _decode_one(
        b'{"header": {"tr_cd": "OVC", "tr_key": "NQU23   "}, "body": {"curpr": 14997.750000001}}'
    )
    assert row["curpr"] == Decimal("14997.750000001")


def test_extra_keeps_unknown_fields_as_sent() -> None:
    row = _decode_one(_frame("S3_", {"price": "100", "newfld": "0012", "num": 5, "dec": 1.50}))
    assert json.loads(row["extra"], parse_float=Decimal) == {
        "newfld": "0012",
        "num": 5,
        "dec": Decimal("1.50"),
    }
    assert row["price"] == 100


def test_batches_split_at_batch_rows_in_order_and_by_market() -> None:
    dec = Decoder(batch_rows=3, symbol_markets={"000880": "kosdaq"})
    for i in range(7):
        dec.add(_record(_frame("H1_", {"offerho1": str(i)}), seq=i))
    dec.add(_record({"header": {"tr_cd": "NH1", "tr_key": "N000880   "}, "body": {}}, seq=10))
    dec.add(_record({"header": {"tr_cd": "NH1", "tr_key": "N005930   "}, "body": {}}, seq=11))
    batches = dec.flush()
    h1 = [b for b in batches if b.tr_cd == "H1_"]
    assert [b.table.num_rows for b in h1] == [3, 3, 1]
    assert [x for b in h1 for x in b.table.column("seq").to_pylist()] == list(range(7))
    assert {(b.tr_cd, b.market, b.channel) for b in batches if b.tr_cd == "NH1"} == {
        ("NH1", "kosdaq", "book"),
        ("NH1", "stock", "book"),
    }
    assert all(isinstance(b, Batch) and b.table.schema == schema_for(b.tr_cd) for b in batches)
    assert dec.flush() == []


# -- time ------------------------------------------------------------------------------------------


def test_trading_day_turns_at_the_cutoff() -> None:
    dec = Decoder()
    before = _at(DAY, 7, 29, 59, 999_999_999)
    dec.add(_record(_frame("OVC", {}), recv_ns=before, seq=1))
    dec.add(_record(_frame("OVC", {}), recv_ns=before + 1, seq=2))
    (b,) = dec.flush()
    assert b.table.column("trading_day").to_pylist() == [DAY - dt.timedelta(days=1), DAY]


def test_krx_rows_take_the_calendar_date_unless_a_cutoff_is_configured() -> None:
    before_midnight = _at(DAY - dt.timedelta(days=1), 23, 59, 59, 999_999_999)
    for cutoffs, want in (
        (None, [DAY - dt.timedelta(days=1), DAY, DAY]),  # the exchange's rule: the KST date
        ({"kospi": dt.time(7, 30)}, [DAY - dt.timedelta(days=1)] * 2 + [DAY]),  # a fixed clock time
    ):
        dec = Decoder(cutoffs=cutoffs)
        for i, at in enumerate((before_midnight, before_midnight + 1, _at(DAY, 7, 30))):
            dec.add(_record(_frame("H1_", {}), recv_ns=at, seq=i + 1))
        (b,) = dec.flush()
        assert b.table.column("trading_day").to_pylist() == want, cutoffs


def test_trading_day_cutoff_is_per_market() -> None:
    dec = Decoder(cutoffs={"ofutures": dt.time(6, 0), "kospi": dt.time(7, 30)})
    at = _at(DAY, 6, 30)
    dec.add(_record(_frame("OVC", {}), recv_ns=at, seq=1))
    dec.add(_record(_frame("H1_", {}), recv_ns=at, seq=2))
    dec.add(_record(_frame("NH1", {}), recv_ns=at, seq=3))  # market "stock" uses kospi's cutoff
    days = {b.tr_cd: b.table.column("trading_day").to_pylist()[0] for b in dec.flush()}
    assert days == {"OVC": DAY, "H1_": DAY - dt.timedelta(days=1), "NH1": DAY - dt.timedelta(days=1)}


@pytest.mark.parametrize(
    ("hotime", "recv", "want"),
    [
        ("235959", (DAY, 0, 0, 2), (DAY - dt.timedelta(days=1), 23, 59, 59)),
        ("000000", (DAY, 23, 59, 59), (DAY + dt.timedelta(days=1), 0, 0, 0)),
        ("090000", (DAY, 15, 0, 0), (DAY, 9, 0, 0)),
        ("080000", (DAY, 20, 0, 1), (DAY, 8, 0, 0)),  # NXT's open seen at its close
        ("100001", (DAY, 10, 0, 0), (DAY, 10, 0, 1)),  # venue clock a second ahead
    ],
)
def test_exchange_time_takes_its_date_from_the_receive_time_across_midnight(
    hotime: str, recv: tuple[dt.date, int, int, int], want: tuple[dt.date, int, int, int]
) -> None:
    row = _decode_one(_frame("H1_", {"hotime": hotime}), recv_ns=_at(*recv))
    assert row["hotime"] == hotime
    assert row["hotime_ts"] == dt.datetime.combine(want[0], dt.time(*want[1:]), tzinfo=SEOUL)


def test_overseas_local_times_use_the_configured_zone() -> None:
    recv = _at(DAY, 14, 16, 41)
    frame = _frame("OVH", {"hotime": "011640"})
    chicago = _decode_one(frame, recv_ns=recv)["hotime_ts"]
    assert chicago == dt.datetime(2026, 5, 15, 15, 16, 40, tzinfo=SEOUL)  # CDT = UTC-5
    hk = _decode_one(frame, Decoder(overseas_zone="Asia/Hong_Kong"), recv_ns=recv)["hotime_ts"]
    assert hk == dt.datetime(2026, 5, 15, 2, 16, 40, tzinfo=SEOUL)
    winter = _decode_one(_frame("OVC", {"trdtm": "001640", "ovsdate": "20260115"}), recv_ns=recv)
    assert winter["trdtm_ts"] == dt.datetime(2026, 1, 15, 15, 16, 40, tzinfo=SEOUL)  # CST = UTC-6


# -- simulator -------------------------------------------------------------------------------------

INSTRUMENTS = [
    Instrument("kospi", "005930", "삼성전자", Decimal(72400), 0, "stock", Decimal(1)),
    Instrument("kosdaq", "086520", "에코프로", Decimal(763000), 0, "stock", Decimal(1)),
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
        "ofutures", "ESM26", "E-mini", Decimal("6800.25"), 2, "future", Decimal("0.25"), "ES", "202606"
    ),
    Instrument(
        "ofutures", "ZNM26", "10Y", Decimal("112.500000"), 6, "future", Decimal("0.015625"), "ZN", "202606"
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


@pytest.mark.parametrize("quirks", [False, True], ids=["plain", "quirky"])
def test_simulator_frames_for_every_tr_decode_without_quarantine(quirks: bool) -> None:
    model = MarketModel(INSTRUMENTS, random.Random(3), quirky_overseas_prices=quirks, signed_changes=quirks)
    dec = Decoder()
    sent: dict[str, int] = {}
    seq = 0
    for start in (_at(DAY, 8, 44), _at(DAY, 15, 19), _at(DAY, 22, 0)):
        for k in range(1500):
            now = start + k * 200_000_000
            frames = model.status_events(now)
            for inst in INSTRUMENTS:
                frames += model.events(inst.market, inst.symbol, now, frozenset(CATALOG))
            for tr, body in frames:
                symbol = inst_symbol(tr, body)
                frame = {"header": {"tr_cd": tr, "tr_key": format_tr_key(tr, symbol)}, "body": body}
                seq += 1
                dec.add(Record(Kind.FRAME, seq, now, "c1", json.dumps(frame, ensure_ascii=False).encode()))
                sent[tr] = sent.get(tr, 0) + 1
    assert dec.quarantined_total == {}, dec.quarantined[:3]
    got: dict[str, int] = {}
    for b in dec.flush():
        got[b.tr_cd] = got.get(b.tr_cd, 0) + b.table.num_rows
    assert got == sent
    assert set(sent) >= set(CATALOG) - {"FH0", "FC0"}, set(CATALOG) - set(sent)


def inst_symbol(tr: str, body: dict[str, str]) -> str:
    spec = CATALOG[tr]
    if not spec.key_field:
        return "0"
    return body[spec.key_field].strip()


# -- volume ----------------------------------------------------------------------------------------


def test_60000_h1_frames_decode_to_as_many_rows() -> None:
    body = dict(ls_example("H1_")["response"]["body"])
    body.update(midprice="72350", offermidsumrem="0", bidmidsumrem="0", midsumrem="0", midsumremgubun=" ")
    assert len(body) == len(CATALOG["H1_"].fields) == 52
    payload = json.dumps({"header": {"tr_cd": "H1_", "tr_key": "005930"}, "body": body}).encode()
    n = 60_000
    recv = _at(DAY, 10)
    records = [Record(Kind.FRAME, i, recv + i * 1000, "c1", payload) for i in range(n)]
    dec = Decoder()
    for r in records:
        dec.add(r)
    batches = dec.flush()
    assert sum(b.table.num_rows for b in batches) == n
