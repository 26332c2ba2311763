"""Column-wise typing: a TR's body values, kept as sent (strings or null), -> typed Arrow arrays.

The per-value parsers of ``fields.py`` are the definition; this module only runs them less often.
Each column becomes one Arrow string array, and a strict check settles the common well-formed case
in C++: ints ``^[0-9]{1,18}$`` and decimals ``^[0-9]{1,W}(\\.[0-9]{0,S})?$`` (W digits before the
point, S the scale) are cast as a whole column, which gives exactly what ``parse_int`` /
``parse_dec`` give for such text (zero padding included). Every other value (blank, signed,
blank-padded, LS's ``"0. 14997.75"``, anything bad) goes through its parser one by one and the
result replaces it. Strings, times and dates repeat, so their parsers run once per distinct value
of the column (``parse_str`` / ``parse_time`` / ``parse_date`` semantics exactly, Python's
``str.isspace`` included).

A value the parser refuses marks its row bad, with the ``bad_value`` detail of the first bad field
in the row order of ``rows.RowPlan`` (ints, decimals, strings, times, dates); the caller drops such
rows and quarantines their frames. Nothing here reads the envelope or keeps rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from gatherer.decode.fields import (
    BadValue,
    parse_date,
    parse_dec,
    parse_int,
    parse_str,
    parse_time,
    units_to_decimal,
)
from gatherer.decode.schema import Layout

_INT_CHECK = r"^[0-9]{1,18}$"  # < 10**18: always inside int64


def bad_detail(tr_cd: str, field: str, value: object, err: BadValue) -> str:
    """The ``bad_value`` detail of one field, with the value shown (shortened)."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{tr_cd} field {field}={shown}: {err}"


@cache
def _dec_check(scale: int, precision: int) -> str:
    whole = precision - scale
    return rf"^[0-9]{{1,{whole}}}(\.[0-9]{{0,{scale}}})?$" if scale else rf"^[0-9]{{1,{whole}}}$"


def decimal_array(units: Sequence[int | None], scale: int, precision: int) -> pa.Array:
    """A decimal128 column from scaled integers (``fields.parse_dec``), exactly."""
    typ = pa.decimal128(precision, scale)
    try:
        ints = pa.array(units, pa.int64())
    except (OverflowError, pa.ArrowInvalid):
        return pa.array([None if u is None else units_to_decimal(u, scale) for u in units], typ)
    # Same 16-byte layout: cast the scaled integers exactly, then re-read them with the scale.
    return ints.cast(pa.decimal128(38, 0)).view(typ)


class Typer:
    """Types the raw columns of one batch of one TR; ``bad`` maps a row to its refusal detail."""

    def __init__(self, lay: Layout) -> None:
        self.layout = lay
        self.tr_cd = lay.spec.tr_cd
        self.bad: dict[int, str] = {}

    def columns(self, values: list[Any]) -> list[pa.Array]:
        """``values``: each row's field values in row order (ints, decs, strs, times, dates), row
        after row -> one typed array per field."""
        lay = self.layout
        width = len(lay.ints) + len(lay.decs) + len(lay.strs) + len(lay.times) + len(lay.dates)
        # One Arrow array of every value, then each field's column taken out of it in C++.
        rows = pa.FixedSizeListArray.from_arrays(pa.array(values, pa.string()), width)
        raw = [_Column(values, width, k, pc.list_element(rows, k)) for k in range(width)]
        out: list[pa.Array] = []
        pos = 0
        for name in lay.ints:
            out.append(self._numeric(name, raw[pos], _INT_CHECK, pa.int64(), parse_int, _int_array))
            pos += 1
        for name, scale, precision in lay.decs:
            out.append(
                self._numeric(
                    name,
                    raw[pos],
                    _dec_check(scale, precision),
                    pa.decimal128(precision, scale),
                    partial(_parse_dec, scale=scale, precision=precision),
                    partial(decimal_array, scale=scale, precision=precision),
                )
            )
            pos += 1
        for name in lay.strs:
            parse = _parse_key if name == lay.key else parse_str
            out.append(self._distinct(name, raw[pos], parse))
            pos += 1
        for name in lay.times:
            out.append(self._distinct(name, raw[pos], parse_time))
            pos += 1
        for name in lay.dates:
            out.append(self._distinct(name, raw[pos], parse_date))
            pos += 1
        return out

    def _refuse(self, row: int, name: str, value: object, err: BadValue) -> None:
        if row not in self.bad:  # fields are typed in row order: the first bad field names the row
            self.bad[row] = bad_detail(self.tr_cd, name, value, err)

    def _numeric(
        self,
        name: str,
        column: _Column,
        check: str,
        typ: pa.DataType,
        parse: Callable[[object], int | None],
        build: Callable[[list[int | None]], pa.Array],
    ) -> pa.Array:
        text = column.text
        ok = pc.match_substring_regex(text, check)
        if ok.false_count == 0:
            return pc.cast(text, typ)
        others = pc.indices_nonzero(pc.invert(ok)).to_pylist()
        parsed: list[int | None] = []
        for i in others:
            v = column.value(i)
            try:
                parsed.append(parse(v))
            except BadValue as e:
                self._refuse(i, name, v, e)
                parsed.append(None)
        mask = pc.fill_null(pc.invert(ok), False)
        typed = pc.cast(pc.if_else(mask, pa.scalar(None, pa.string()), text), typ)
        return pc.replace_with_mask(typed, mask, build(parsed))

    def _distinct(self, name: str, column: _Column, parse: Callable[[object], str | None]) -> pa.Array:
        text = column.text
        encoded = text.dictionary_encode()
        distinct = encoded.dictionary.to_pylist()
        typed: list[str | None] = []
        refused: dict[int, BadValue] = {}
        for k, v in enumerate(distinct):
            try:
                typed.append(parse(v))
            except BadValue as e:
                refused[k] = e
                typed.append(None)
        if refused:
            hit = pc.is_in(encoded.indices, value_set=pa.array(list(refused), encoded.indices.type))
            for i in pc.indices_nonzero(hit).to_pylist():
                self._refuse(i, name, column.value(i), refused[encoded.indices[i].as_py()])
        if typed == distinct:
            return text
        return pc.take(pa.array(typed, pa.string()), encoded.indices)


class _Column:
    """One field of a batch: its Arrow text, and each value as sent (for the parsers)."""

    __slots__ = ("offset", "text", "values", "width")

    def __init__(self, values: list[Any], width: int, offset: int, text: pa.Array) -> None:
        self.values = values
        self.width = width
        self.offset = offset
        self.text = text

    def value(self, row: int) -> Any:
        return self.values[row * self.width + self.offset]


def _parse_dec(value: object, *, scale: int, precision: int) -> int | None:
    return parse_dec(value, scale, precision)


def _int_array(values: list[int | None]) -> pa.Array:
    return pa.array(values, pa.int64())


def _parse_key(value: object) -> str | None:
    text = parse_str(value)
    return None if text is None else text.rstrip(" ")


def canonical_text(kind: str, value: Any, scale: int = 0) -> str | None:
    """A typed value (``rows.RowPlan.values``) as text that types back to exactly that value."""
    if value is None or kind not in ("int", "dec"):
        return value  # type: ignore[no-any-return]
    if kind == "int":
        return str(value)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**scale)
    return f"{sign}{whole}.{frac:0{scale}d}" if scale else f"{sign}{whole}"


__all__ = ["Typer", "bad_detail", "canonical_text", "decimal_array"]
