"""Market hours for a run: the session windows and groups the supervisor hands its workers.

The windows (``venues.ls.hours.session_windows``) take seconds of CPU to compute the first time in
a process (the XKRX calendar), so they are computed here, in a thread, before the first
connection and again at each cutoff, for ``SPAN_DAYS`` Seoul dates from the day before now: a
run whose refresh is late keeps days of margin, and a compressed test day (600x) crosses several
cutoffs within one span. Workers receive them as plain data and never import exchange_calendars.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping

import pyarrow as pa

from gatherer.clock import to_seoul
from gatherer.venues.ls.hours import OVERSEAS_MARKETS, SessionWindows, overseas_groups, session_windows

log = logging.getLogger(__name__)

SPAN_DAYS = 10
"""Seoul dates covered: the day before now, today, and eight more."""


def span_of(now_ns: int) -> tuple[dt.date, dt.date]:
    first = to_seoul(now_ns).date() - dt.timedelta(days=1)
    return first, first + dt.timedelta(days=SPAN_DAYS - 1)


async def load_windows(now_ns: int) -> SessionWindows:
    """Every session group's windows for ``SPAN_DAYS`` around ``now_ns``, computed in a thread."""
    first, last = span_of(now_ns)
    return await asyncio.to_thread(session_windows, first, last)


def symbol_groups(tables: Mapping[str, pa.Table]) -> dict[str, str]:
    """Overseas symbol -> its exchange's session group, by the masters' ``ExchCd``; an exchange the
    project has no hours for gets the CME rule, with a warning naming it."""
    rows: list[tuple[str, str]] = []
    for market in OVERSEAS_MARKETS:
        table = tables.get(market)
        if table is None or "ExchCd" not in table.column_names or "symbol" not in table.column_names:
            continue
        rows += zip(table.column("symbol").to_pylist(), table.column("ExchCd").to_pylist(), strict=True)
    groups, unknown = overseas_groups((str(s), str(e or "")) for s, e in rows)
    if unknown:
        log.warning(
            "no trading hours known for exchange(s) %s of the overseas masters: their products are"
            " watched by the CME Globex hours (Sunday–Friday 17:00–16:00 Chicago)",
            ", ".join(repr(u) for u in unknown),
        )
    return groups
