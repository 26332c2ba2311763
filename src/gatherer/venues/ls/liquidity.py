"""Yesterday's traded value per stock, for ranking what to record when the plan does not fit.

LS's masters carry no traded value (t8436, LS_OPENAPI.md §4), so it comes from **t8407**
(API용주식멀티현재가조회, ``/stock/market-data``, 2 calls/s): up to 50 codes a call (InBlock ``nrec``
and ``shcode``, the codes concatenated), each answered with ``value``, 거래대금 in 백만원 (KRW
millions). Asked before the open (the collector plans at the 07:30 cutoff and at start), it is the
last session's value [I]: LS shows the previous session until the pre-open auction; asked during a
session it is today's so far, still a ranking of liquidity. 4,212 stocks take 85 calls (~45 s at
LS's personal rate); the supervisor asks only when the selection does not fit, and the answer is
cached per trading day under ``masters/`` (``run.prepare``).

The derivative and overseas masters have no equivalent here; those markets keep their code order.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from gatherer.errors import DecodeError
from gatherer.venues.ls.masters import to_int
from gatherer.venues.ls.rest import RestClient

VALUE_TR = "t8407"
BATCH = 50
"""Codes per t8407 call (LS's ``nrec`` maximum)."""
VALUE_UNIT_KRW = 1_000_000
"""t8407 ``value`` is in 백만원."""


async def fetch_values(client: RestClient, market: str, codes: Sequence[str]) -> pa.Table:
    """``symbol``, ``value`` (KRW millions, int64; 0 when LS gives none) for each code, in order."""
    found: dict[str, int] = {}
    for i in range(0, len(codes), BATCH):
        chunk = list(codes[i : i + BATCH])
        bodies = await client.call(VALUE_TR, {"nrec": len(chunk), "shcode": "".join(chunk)})
        for body in bodies:
            rows = body.get(f"{VALUE_TR}OutBlock1", body.get(f"{VALUE_TR}OutBlock", []))
            for row in rows if isinstance(rows, list) else [rows]:
                if not isinstance(row, dict):
                    continue
                code = str(row.get("shcode", "")).strip()
                try:
                    found[code] = to_int(row.get("value")) or 0
                except ValueError as exc:
                    raise DecodeError(f"{VALUE_TR} field value of {code!r}: {exc}") from exc
    table = pa.table(
        {
            "symbol": pa.array(list(codes), pa.string()),
            "value": pa.array([found.get(c, 0) for c in codes], pa.int64()),
        }
    )
    return table.replace_schema_metadata({"tr_cd": VALUE_TR, "market": market, "unit": "KRW millions"})


__all__ = ["BATCH", "VALUE_TR", "VALUE_UNIT_KRW", "fetch_values"]
