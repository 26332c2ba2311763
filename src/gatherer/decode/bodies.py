"""Bodies read late: a pending frame's body stays unread until its rows are typed.

The decoder reads a frame's envelope when the frame is added and, when nothing about the frame
needs its body then (its symbol comes from the header; it is not a JIF or VI frame), keeps the
body as ``msgspec.Raw`` (a view of the payload, which a pending row holds anyway for the
quarantine) instead of one string object per field: a pending frame costs ~1.2 KB instead of
~3.7 KB, which is most of the store's memory between two batches (bench/live_store).

``Bodies.read`` then reads one key's bodies exactly as the decoder would have on arrival: the
TR's body of strings or nulls (``RowPlan.body_decoder``), else generically (JSON numbers,
unknown fields kept as ``extra``), and a body the generic reading refuses is refused with that
reason, in the frame's place in arrival order (the quarantine is sorted by frame index).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from gatherer.decode.rows import Refused, RowPlan

Refusals = dict[int, tuple[str, str]]
"""Position of a row in its key's pending rows -> (reason, detail)."""


class Bodies:
    """Reads pending rows' bodies (see the module docstring); one per decoder."""

    def __init__(self) -> None:
        self._json = msgspec.json.Decoder(float_hook=Decimal)
        self._extra_json = msgspec.json.Encoder(decimal_format="number")

    def extra(self, plan: RowPlan, body: dict[str, Any], present: int) -> str | None:
        """The body's fields the catalog does not list, as JSON (the ``extra`` column), or None."""
        if len(body) > present:
            unknown = {k: v for k, v in body.items() if k not in plan.known}
            if unknown:
                return self._extra_json.encode(unknown).decode()
        return None

    def read(
        self, plan: RowPlan, heads: list[tuple[Any, ...]], bodies: list[Any]
    ) -> tuple[list[Any], list[str | None], Refusals]:
        """``bodies`` has one item per row: its values as sent (a tuple) or its unread body (a
        ``msgspec.Raw``); a head is ``(index, seq, recv_ns, conn_id, payload, symbol, extra)``.
        Returns the values as sent of every row not refused, one flat list in row order, each such
        row's ``extra``, and the rows refused."""
        values: list[Any] = []
        extras: list[str | None] = []
        refused: Refusals = {}
        decode = plan.body_decoder.decode
        astuple = msgspec.structs.astuple
        for i, body in enumerate(bodies):
            extra = heads[i][6]
            if body.__class__ is tuple:
                values.extend(body)
            else:
                try:
                    values.extend(astuple(decode(body)))
                except msgspec.DecodeError:
                    try:
                        row, extra = self._generic(plan, heads[i][4])
                    except Refused as r:
                        refused[i] = (r.reason, r.detail)
                        continue
                    values.extend(row)
            extras.append(extra)
        return values, extras, refused

    def _generic(self, plan: RowPlan, payload: bytes) -> tuple[list[str | None], str | None]:
        """A body that is not the common form, read generically (the header was read on arrival:
        a data frame of a known TR whose symbol came from ``tr_key``)."""
        try:
            obj = self._json.decode(payload)
        except msgspec.DecodeError as e:
            raise Refused("not_json", f"not JSON: {e}") from None
        body = obj.get("body") if obj.__class__ is dict else None
        if body.__class__ is not dict:
            raise Refused("body_not_object", f"{plan.tr_cd} body is {type(body).__name__}", plan.tr_cd)
        row, present = plan.texts(body)
        return row, self.extra(plan, body, present)


def merge_refusals(n: int, refused: Refusals, bad: dict[int, str]) -> dict[int, str]:
    """The details of every row left out of ``n``: ``bad`` counts positions among the rows not
    refused (those typing was given), ``refused`` among all ``n``."""
    if not refused:
        return bad
    positions = [i for i in range(n) if i not in refused]
    out = {positions[j]: detail for j, detail in bad.items()}
    out.update((i, detail) for i, (_, detail) in refused.items())
    return out
