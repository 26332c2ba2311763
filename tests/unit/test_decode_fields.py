"""Value parsers per kind: blanks, padding, signs, LS's "0. 14997.75" prices, and exact round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatherer.decode.fields import (
    BadValue,
    epoch_day,
    parse_date,
    parse_dec,
    parse_int,
    parse_key,
    parse_str,
    parse_time,
    units_to_decimal,
)

BLANKS = [None, "", " ", "   ", "\t"]


@pytest.mark.parametrize("blank", BLANKS)
def test_blank_or_missing_is_null_for_every_kind(blank: str | None) -> None:
    assert parse_int(blank) is None
    assert parse_dec(blank, 2, 8) is None
    assert parse_str(blank) is None
    assert parse_key(blank) is None
    assert parse_time(blank) is None
    assert parse_date(blank) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0072400", 72400),
        ("0000143169", 143169),
        ("+123", 123),
        ("-00000076196", -76196),
        (" 136 ", 136),
        ("0", 0),
        ("-0", 0),
        ("0. 14997", 14997),
        (72400, 72400),
        (Decimal("72400"), 72400),
        ("9223372036854775807", 2**63 - 1),
        ("00000000000000000000000001", 1),
    ],
)
def test_int_parses_padded_and_signed(text: object, expected: int) -> None:
    assert parse_int(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "12a",
        "1.5",
        "1.",
        "1_000",
        "١٢٣",  # Arabic-Indic digits: int() would take them
        "２３",  # full-width digits
        "2²",
        "+",
        "-",
        "1 2",
        "5. 12",
        "--1",
        "9223372036854775808",
        Decimal("1.0"),
        True,
        [1],
        {"a": 1},
        1.5,
    ],
)
def test_int_refuses_what_is_not_an_exact_integer(text: object) -> None:
    with pytest.raises(BadValue):
        parse_int(text)


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("346.20", 2, Decimal("346.20")),
        ("346.2", 2, Decimal("346.20")),
        ("-0.31", 2, Decimal("-0.31")),
        ("000.68", 2, Decimal("0.68")),
        ("+1.5", 2, Decimal("1.5")),
        (".5", 2, Decimal("0.5")),
        ("5.", 2, Decimal("5")),
        ("0. 14997.75", 9, Decimal("14997.75")),
        ("0.    46.25", 9, Decimal("46.25")),
        ("0.112.531250", 9, Decimal("112.53125")),
        ("0.   -46.25", 9, Decimal("-46.25")),
        ("0.67670", 9, Decimal("0.6767")),
        ("0.000050000", 9, Decimal("0.00005")),
        (" 12 ", 2, Decimal("12")),
        (12, 2, Decimal("12")),
        (Decimal("1.50"), 2, Decimal("1.5")),
    ],
)
def test_decimal_is_exact(text: object, scale: int, expected: Decimal) -> None:
    units = parse_dec(text, scale, 24)
    assert units is not None
    assert units_to_decimal(units, scale) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1.234", "3 decimal places"),
        ("1.2.3", "not a number"),
        ("abc", "not a number"),
        (".", "not a number"),
        ("1e5", "not a number"),
        ("NaN", "not a number"),
        ("107..0", "not a number"),
        ("108.00？00", "non-ASCII"),
        ("5. 14997.75", "not zero"),
        ("1.112.5", "not a number"),
        ("0.1.2.3", "not a number"),
        ("0.0.1", "not a number"),
        (Decimal("1.234"), "3 decimal places"),
        ("123456789", "more than 8 digits"),
    ],
)
def test_decimal_refuses_inexact_or_malformed(text: object, why: str) -> None:
    with pytest.raises(BadValue, match=why):
        parse_dec(text, 2, 8)


def test_strings_are_kept_exactly_and_the_key_loses_its_padding() -> None:
    assert parse_str("BNK 증") == "BNK 증"
    assert parse_str(" KRX ") == " KRX "
    assert parse_str(5) == "5"
    assert parse_key("NQU23   ") == "NQU23"
    assert parse_key("005930") == "005930"


def test_times_and_dates_stay_strings_and_must_be_real() -> None:
    assert parse_time("084242") == "084242"
    assert parse_time("235959") == "235959"
    assert parse_time(84242) == "084242"
    for bad in ("240000", "086000", "084260", "8424", "08424a", "０８４２４２"):
        with pytest.raises(BadValue):
            parse_time(bad)
    assert parse_date("20230622") == "20230622"
    assert epoch_day("19700102") == 1
    for bad in ("20230231", "2023062", "0230622", "2023-06-2"):
        with pytest.raises(BadValue):
            parse_date(bad)


# -- properties ------------------------------------------------------------------------------------


@st.composite
def int_texts(draw: st.DrawFn, length: int = 12) -> tuple[str, int]:
    digits = draw(st.integers(min_value=1, max_value=length))
    value = draw(st.integers(min_value=0, max_value=10**digits - 1))
    text = str(value)
    if draw(st.booleans()):
        text = text.zfill(digits)
    sign = draw(st.sampled_from(["", "+", "-"]))
    text = sign + text
    if draw(st.booleans()):
        text = " " * draw(st.integers(0, 2)) + text + " " * draw(st.integers(0, 2))
    return text, -value if sign == "-" else value


@st.composite
def dec_texts(draw: st.DrawFn, length: int = 15, scale: int = 9) -> tuple[str, Decimal]:
    whole = draw(st.integers(min_value=0, max_value=10**length - 1))
    places = draw(st.integers(min_value=0, max_value=scale))
    frac = draw(st.text(alphabet="0123456789", min_size=places, max_size=places))
    sign = draw(st.sampled_from(["", "+", "-"]))
    text = f"{sign}{whole}" + (f".{frac}" if places or draw(st.booleans()) else "")
    if draw(st.booleans()):
        text = "0. " + text.lstrip("+-") if sign == "" else text
    return text, Decimal(text.split()[-1])


@given(int_texts())
def test_any_integer_in_format_round_trips(case: tuple[str, int]) -> None:
    text, expected = case
    assert parse_int(text) == expected


@given(st.integers(min_value=0, max_value=9), st.data())
def test_any_decimal_in_format_round_trips(scale: int, data: st.DataObject) -> None:
    text, expected = data.draw(dec_texts(length=15, scale=scale))
    units = parse_dec(text, scale, 15 + scale)
    assert units is not None
    assert units_to_decimal(units, scale) == expected


@given(int_texts(), st.sampled_from(["x", ".", "..", ".5", "e1", "1.0", "_1", "٣"]), st.integers(0, 20))
def test_malformed_integers_are_refused(case: tuple[str, int], junk: str, at: int) -> None:
    text, _ = case
    core = text.strip()
    pos = min(at, len(core))
    bad = core[:pos] + junk + core[pos:]
    with pytest.raises(BadValue):
        parse_int(bad)


@given(st.integers(min_value=0, max_value=6), st.integers(min_value=0, max_value=10**6), st.data())
def test_decimals_with_too_many_places_or_two_dots_are_refused(
    scale: int, whole: int, data: st.DataObject
) -> None:
    frac = data.draw(st.text(alphabet="0123456789", min_size=scale + 1, max_size=scale + 4))
    with pytest.raises(BadValue):
        parse_dec(f"{whole}.{frac}", scale, 30)
    with pytest.raises(BadValue):
        parse_dec(f"{whole}.{frac[:scale]}.1", scale, 30)
    letter = data.draw(st.sampled_from("abcxyzE"))
    with pytest.raises(BadValue):
        parse_dec(f"{whole}{letter}", scale, 30)
