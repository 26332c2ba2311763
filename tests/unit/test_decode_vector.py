"""The column-wise typing against the per-value path: for random frames, the same batches (tables
and their order) and the same quarantine, whatever the values look like."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatherer.capture import Kind, Record
from gatherer.decode import Decoder
from gatherer.venues.ls.catalog import CATALOG, Field

TRS = ["H1_", "S3_", "OVC", "OVH", "FC0", "JIF", "NH1", "K1_", "OC0"]
ODD = ["", " ", "\t", "\u3000", "\x1c", "\xa0", "\u2028", " 7", "7 ", "가", "٣", "１２", "0x10", "1e3"]


def _number(draw: st.DrawFn, f: Field) -> Any:
    digits = draw(st.integers(0, 10 ** min(f.length + 2, 20) - 1))
    text = str(digits)
    if f.kind == "dec":
        frac = draw(st.text(alphabet="0123456789", max_size=f.scale + 1))
        text = f"{text}.{frac}" if draw(st.booleans()) else text
    style = draw(st.sampled_from(["plain", "plain", "zero", "sign", "glued", "blank", "json"]))
    if style == "zero":
        return text.zfill(draw(st.integers(1, 22)))
    if style == "sign":
        return draw(st.sampled_from("+-")) + text
    if style == "glued":
        return draw(st.sampled_from(["0. ", "0.    ", "5. ", "0 0 ", "0."])) + text
    if style == "blank":
        return draw(st.sampled_from([" ", "  "])) + text + draw(st.sampled_from(["", " "]))
    if style == "json":
        return digits if draw(st.booleans()) or f.kind == "int" else float(text.rstrip("."))
    return text


def _value(draw: st.DrawFn, f: Field) -> Any:
    kind = draw(st.sampled_from(["good", "good", "good", "odd", "null", "text"]))
    if kind == "odd":
        return draw(st.sampled_from(ODD))
    if kind == "null":
        return None
    if kind == "text":
        return draw(st.text(alphabet="0123456789. +-aZ가\t\u3000", max_size=12))
    if f.kind in ("int", "dec"):
        return _number(draw, f)
    if f.kind == "time":
        return draw(st.sampled_from(["084242", "235959", "240000", "0842", "086060", "000000"]))
    if f.kind == "date":
        return draw(st.sampled_from(["20230622", "20230230", "2023062", "00000101", "20240229"]))
    return draw(st.text(alphabet="AB 가\u3000\t1", max_size=6))


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    tr = draw(st.sampled_from(TRS))
    spec = CATALOG[tr]
    fields = draw(st.lists(st.sampled_from(spec.fields), max_size=12, unique_by=lambda f: f.name))
    body: dict[str, Any] = {f.name: _value(draw, f) for f in fields}
    if draw(st.integers(0, 9)) == 0:
        body["zz_new"] = "1"
    header: dict[str, Any] = {"tr_cd": tr}
    key = {"stock6": "005930", "nxt10": "N005930   ", "deriv8": "A0166000", "zero": "0"}
    tr_key = key.get(spec.key_style, "NQU23   ")
    if draw(st.integers(0, 9)) > 0:
        header["tr_key"] = tr_key
    elif spec.key_field and spec.key_field not in body:
        body[spec.key_field] = draw(st.sampled_from([tr_key, "  ", None]))
    if draw(st.integers(0, 19)) == 0:
        return b"{broken"
    return json.dumps({"header": header, "body": body}, ensure_ascii=draw(st.booleans())).encode()


def _run(payloads: list[bytes], batch_rows: int, per_value: bool) -> tuple[list[Any], list[Any], int]:
    dec = Decoder(batch_rows=batch_rows, per_value=per_value, symbol_markets={"005930": "kospi"})
    for i, p in enumerate(payloads):
        dec.add(Record(Kind.FRAME, 100 + i, 1_780_000_000_000_000_000 + i * 1000, "c1", p))
    batches = [(b.tr_cd, b.market, b.channel, b.table) for b in dec.flush()]
    return batches, dec.take_quarantine(), dec.rows_total


@settings(max_examples=150, deadline=None)
@given(payloads=st.lists(frames(), min_size=1, max_size=40), batch_rows=st.sampled_from([1, 2, 3, 7, 50_000]))
def test_column_typing_gives_what_the_per_value_path_gives(payloads: list[bytes], batch_rows: int) -> None:
    col_batches, col_q, col_rows = _run(payloads, batch_rows, per_value=False)
    ref_batches, ref_q, ref_rows = _run(payloads, batch_rows, per_value=True)
    assert [b[:3] for b in col_batches] == [b[:3] for b in ref_batches]
    for (_, _, _, got), (_, _, _, want) in zip(col_batches, ref_batches, strict=True):
        assert got.schema == want.schema
        assert got.equals(want)
        assert got.to_pylist() == want.to_pylist()
    assert col_q == ref_q
    assert col_rows == ref_rows


@pytest.mark.parametrize("per_value", [False, True])
def test_bad_string_value_is_quarantined_by_flush_and_its_row_left_out(per_value: bool) -> None:
    good = json.dumps({"header": {"tr_cd": "S3_", "tr_key": "005930"}, "body": {"price": "100"}}).encode()
    bad = json.dumps(
        {"header": {"tr_cd": "S3_", "tr_key": "005930"}, "body": {"price": "1x", "chetime": "250000"}}
    ).encode()
    dec = Decoder(per_value=per_value)
    for seq, p in enumerate([good, bad, good]):
        dec.add(Record(Kind.FRAME, seq, 1_780_000_000_000_000_000, "c1", p))
    (batch,) = dec.flush()
    assert batch.table.column("seq").to_pylist() == [0, 2]
    (q,) = dec.take_quarantine()
    assert (q.seq, q.reason, q.tr_cd, q.payload) == (1, "bad_value", "S3_", bad)
    assert q.detail == "S3_ field price='1x': not an integer"
