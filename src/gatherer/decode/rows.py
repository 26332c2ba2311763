"""A TR's row plan: one frame body -> the typed values of one row, or ``Refused`` with its reason.

``RowPlan`` compiles a TR's ``Layout`` (``schema.py``) into the per-frame path and types every
value with the parsers of ``fields.py``, so a bad value is refused at once, naming the field and
value; the decoder turns ``Refused`` into a quarantine entry. Nothing here reads the envelope, keeps
rows or builds Arrow arrays.

Speed: rows are kept as tuples, and the common all-digits case of integer fields is checked and
converted for the whole frame at once; decimals of the plain form are scaled without a regex.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatherer.decode.fields import (
    BadValue,
    parse_date,
    parse_dec,
    parse_int,
    parse_str,
    parse_time,
)
from gatherer.decode.schema import Layout


class Refused(Exception):
    """A frame the decoder quarantines: ``reason`` is one of ``decoder.REASONS``, ``detail`` names
    the field and value, ``tr_cd`` is the TR when it is known."""

    def __init__(self, reason: str, detail: str, tr_cd: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.tr_cd = tr_cd


def bad_value(tr_cd: str, field: str, value: object, err: BadValue) -> Refused:
    """The ``bad_value`` refusal of one field, with the value shown (shortened)."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return Refused("bad_value", f"{tr_cd} field {field}={shown}: {err}", tr_cd)


class RowPlan:
    """One TR's field groups, compiled for the per-frame path.

    A row is ``(seq, recv_ns, conn_id, symbol, extra, *ints, *decs, *strs, *times, *dates)``;
    ``values`` gives the part after ``extra``.
    """

    __slots__ = (
        "decs",
        "get_order",
        "key_index",
        "known",
        "layout",
        "n_int",
        "names_ints",
        "names_strs",
        "names_times",
        "tr_cd",
    )

    def __init__(self, lay: Layout) -> None:
        self.layout = lay
        self.tr_cd = lay.spec.tr_cd
        self.names_ints = lay.ints
        self.decs = lay.decs
        self.names_strs = lay.strs
        self.names_times = lay.times
        self.get_order: tuple[str, ...] = (
            lay.ints + tuple(d[0] for d in lay.decs) + lay.strs + lay.times + lay.dates
        )
        self.n_int = len(lay.ints)
        self.key_index = lay.strs.index(lay.key) if lay.key else -1
        self.known = lay.field_names

    def values(self, body: dict[str, Any]) -> tuple[list[Any], int]:
        """The typed field values of a body in row order, and how many catalog fields the body had
        (non-null); raises ``Refused`` on a bad value."""
        raw: list[Any] = list(map(body.get, self.get_order))
        ni = self.n_int
        ints = raw[:ni]
        out: list[Any]
        try:
            joined = "".join(ints)
            fast = (
                joined.isdigit() and joined.isascii() and "" not in ints and max(map(len, ints)) <= 18
            ) or ni == 0
        except TypeError:
            fast = False
        if fast:
            out = list(map(int, ints))
        else:
            out = [self._slow(parse_int, name, v) for name, v in zip(self.names_ints, ints, strict=True)]
        pos = ni
        for name, scale, precision in self.decs:
            v = raw[pos]
            pos += 1
            if v.__class__ is str:
                whole, _, frac = v.partition(".")
                if (
                    whole.isdigit()
                    and len(frac) <= scale
                    and (not frac or frac.isdigit())
                    and v.isascii()
                    and len(whole) + scale <= precision
                ):
                    out.append(int(whole + frac.ljust(scale, "0")))
                    continue
            try:
                out.append(parse_dec(v, scale, precision))
            except BadValue as e:
                raise bad_value(self.tr_cd, name, v, e) from None
        first_str = len(out)
        for name in self.names_strs:
            v = raw[pos]
            pos += 1
            if v.__class__ is str:
                out.append(v if v and not v.isspace() else None)
            else:
                out.append(self._slow(parse_str, name, v))
        if self.key_index >= 0:
            key = out[first_str + self.key_index]
            if key is not None:
                out[first_str + self.key_index] = key.rstrip(" ")
        for name in self.names_times:
            v = raw[pos]
            pos += 1
            out.append(self._slow(parse_time, name, v))
        for name in self.layout.dates:
            v = raw[pos]
            pos += 1
            out.append(self._slow(parse_date, name, v))
        return out, len(raw) - raw.count(None)

    def _slow(self, parse: Callable[[object], Any], name: str, value: object) -> Any:
        try:
            return parse(value)
        except BadValue as e:
            raise bad_value(self.tr_cd, name, value, e) from None
