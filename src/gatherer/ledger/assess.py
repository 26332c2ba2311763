"""Scoring a finished day: the venue's end-of-day volumes over REST, then ``ledger.quality``.

``venue_volumes`` asks the backfill TR of each recorded trade stream for its first page (newest
print first, LS_OPENAPI.md §8) and takes the largest cumulative ``volume`` on it: the instrument's
volume so far today, which is its end-of-day volume once the market has closed. Calls go through
the REST client's per-TR pacing (1–2 a second at LS's rates), most traded first; a stream whose call
fails keeps ``venue_volume`` empty and is not research grade. The TRs serve the current day only,
so a day scored later has no venue figures (the score says so by being empty).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import Any

from gatherer.decode import STATUS_MARKET
from gatherer.errors import ApiError, ConnectError, RateLimited
from gatherer.ledger.backfill import BACKFILL_TRS, READ_COUNT
from gatherer.ledger.day import build_ledger
from gatherer.ledger.gapfile import read_gaps
from gatherer.ledger.quality import (
    QualityRow,
    captured,
    day_over_day,
    jif_quiet,
    market_groups,
    market_rows,
    score_rows,
    subtract,
    time_coverage,
    traded_windows,
    write_quality,
)
from gatherer.ledger.scan import market_channel
from gatherer.venues.ls.hours import session_windows
from gatherer.venues.ls.rest import RestClient

log = logging.getLogger(__name__)


def eod_inblock(tr_cd: str, symbol: str) -> tuple[str, dict[str, Any]] | None:
    """The backfill TR and InBlock that return a trade stream's newest prints, no time bound."""
    how = BACKFILL_TRS.get(tr_cd)
    if how is None:
        return None
    rest = how.rest_tr
    if rest == "t1301":
        return rest, {"shcode": symbol, "cvolume": 0, "starttime": "", "endtime": "", "cts_time": ""}
    if rest == "t8454":
        exch = "N" if tr_cd == "NS3" else "U"
        block = {"shcode": symbol, "cvolume": 0, "starttime": "", "endtime": "", "cts_time": ""}
        return rest, {**block, "exchgubun": exch}
    if rest == "t2212":
        return rest, {"focode": symbol, "cvolume": 0, "stime": "", "etime": "", "cts_time": " "}
    block = {"gubun": "0", "shcode": symbol, "readcnt": min(READ_COUNT, 20), "cts_seq": 0}
    return rest, ({**block, "mktgb": "O"} if rest == "o3136" else block)


def _volume(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


async def venue_volumes(
    rest: RestClient, streams: list[tuple[str, str]], *, say: Callable[[str], None] = lambda _m: None
) -> dict[tuple[str, str], tuple[str, int | None]]:
    """(tr_cd, symbol) -> (REST TR asked, the venue's cumulative volume; None if it did not say)."""
    out: dict[tuple[str, str], tuple[str, int | None]] = {}
    for i, (tr_cd, symbol) in enumerate(streams):
        ask = eod_inblock(tr_cd, symbol)
        if ask is None:
            continue
        rest_tr, block = ask
        volume: int | None = None
        try:
            async with aclosing(rest.pages(rest_tr, block)) as pages:
                async for body in pages:
                    rows = body.get(f"{rest_tr}OutBlock1") or []
                    vols = [_volume(r.get("volume")) for r in rows if isinstance(r, Mapping)]
                    known = [v for v in vols if v is not None]
                    volume = max(known) if known else 0
                    break
        except (ApiError, ConnectError, RateLimited) as exc:
            log.warning("end-of-day volume of %s %s not known: %s", tr_cd, symbol, exc)
        out[(tr_cd, symbol)] = (rest_tr, volume)
        if (i + 1) % 100 == 0:
            say(f"end-of-day volumes: {i + 1:,} of {len(streams):,}")
    return out


async def assess_day(
    root: Path, day: dt.date, rest: RestClient | None, *, say: Callable[[str], None] = lambda _m: None
) -> tuple[Path, list[QualityRow]]:
    """Score ``day`` and write ``quality/date=D/quality.parquet``; without ``rest``, no venue figures."""
    ledger = await asyncio.to_thread(build_ledger, root, day)
    recorded, backfilled = await asyncio.to_thread(captured, root, day)
    gaps = {(g.tr_cd, g.symbol) for g in await asyncio.to_thread(read_gaps, root, day)}
    busiest = {k: r.volume for k, r in recorded.items()}
    streams = sorted(set(recorded) | set(backfilled) | gaps, key=lambda k: -busiest.get(k, 0))
    venue = await venue_volumes(rest, streams, say=say) if rest is not None else {}
    markets = {market_channel(tr)[0] for tr, _k in ledger.coverage} - {"", STATUS_MARKET}
    groups = {m: market_groups(root, day, m) for m in markets}
    span = (day - dt.timedelta(days=1), day + dt.timedelta(days=1))
    windows = await asyncio.to_thread(session_windows, *span, set().union(*groups.values()))
    quiet = await asyncio.to_thread(jif_quiet, root, day)
    traded = {m: subtract(traded_windows(windows, groups[m], day), quiet.get(m, [])) for m in markets}
    times = time_coverage(ledger, traded)
    rows = score_rows(day, recorded, backfilled, venue, ledger, times)
    frames: dict[str, int] = {}
    for c in ledger.coverage.values():
        m = market_channel(c.tr_cd)[0]
        if m in markets:
            frames[m] = frames.get(m, 0) + c.frames
    medians = await asyncio.to_thread(day_over_day, root, day, frames)
    all_rows = market_rows(day, rows, frames, medians) + rows
    path = await asyncio.to_thread(write_quality, root, day, all_rows)
    return path, all_rows
