"""A TR's row plan: one frame body -> the typed values of one row, or ``Refused`` with its reason.

``RowPlan`` compiles a TR's ``Layout`` (``schema.py``) into the per-frame path and types every
value with the parsers of ``fields.py``, so a bad value is refused at once, naming the field and
value; the decoder turns ``Refused`` into a quarantine entry. Nothing here reads the envelope, keeps
rows or builds Arrow arrays.

This is the per-value path: every frame with ``Decoder(per_value=True)``, and otherwise the frames
the column path does not read (JSON numbers, unknown fields), whose typed values ``texts`` writes
back as text. ``body_decoder`` reads the common body (catalog fields, strings or null) straight
into a tuple in row order for the column path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from gatherer.decode.columns import bad_detail, canonical_text
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
    return Refused("bad_value", bad_detail(tr_cd, field, value, err), tr_cd)


class RowPlan:
    """One TR's field groups, compiled for the per-frame path.

    A row is ``(seq, recv_ns, conn_id, symbol, extra, *ints, *decs, *strs, *times, *dates)``;
    ``values`` gives the part after ``extra``.
    """

    __slots__ = (
        "body_decoder",
        "decs",
        "get_order",
        "key_index",
        "key_pos",
        "kinds",
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
        self.key_pos = self.get_order.index(lay.key) if lay.key else -1
        # A body of catalog fields, each a string or null, decodes straight to a tuple in row
        # order; anything else (unknown fields, JSON numbers) fails and takes the generic path.
        body = msgspec.defstruct(
            f"Body_{self.tr_cd}",
            [(name, str | None, None) for name in self.get_order],
            forbid_unknown_fields=True,
            gc=False,
        )
        self.body_decoder = msgspec.json.Decoder(body)
        self.known = lay.field_names
        self.kinds: tuple[tuple[str, int], ...] = (
            tuple(("int", 0) for _ in lay.ints)
            + tuple(("dec", d[1]) for d in lay.decs)
            + tuple(("text", 0) for _ in lay.strs + lay.times + lay.dates)
        )

    def texts(self, body: dict[str, Any]) -> tuple[list[str | None], int]:
        """As ``values``, but each typed value written back as text that ``columns.py`` types to
        exactly that value (for frames with JSON numbers, which the column path does not take)."""
        values, present = self.values(body)
        kinds = self.kinds
        return [canonical_text(k, v, s) for (k, s), v in zip(kinds, values, strict=True)], present

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
