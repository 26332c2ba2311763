"""REST backfill: fetch the prints a volume gap says are missing, and prove the hole closed.

For each ``VolumeGap`` the day's stores found (``gaps/date=D/<worker>.jsonl``), the backfiller asks
LS's time-by-time trade TR for that symbol (LS_OPENAPI.md §8.1):

    S3_ / K3_ -> t1301         NS3 -> t8454 exchgubun N      US3 -> t8454 exchgubun U
    FC0 / FC9 / OC0 -> t2212   OVC -> o3116                  WOC -> o3136 mktgb O

pages newest to oldest (bounded by exchange time where the TR takes one) until a row at or below
the gap's ``V_a`` appears, keeps the rows with ``V_a < volume <= V_b - c_b`` (deduplicated on
volume), and checks the chain ``volume = previous volume + cvolume`` from ``V_a`` up to
``V_b - c_b`` (§8.5). The result is one of:

- ``filled``: the chain is whole; every missing print is in the rows;
- ``partly``: some prints came back but the chain has holes (or paging stopped at the bound);
- ``not_fillable``: nothing came back, the TR does not reach the gap's day (these TRs serve the
  current day only), no TR backfills the feed, or the venue refused the request.

The rows go to ``backfill/date=D/market=M/channel=trade/source=rest/<gap id>.parquet`` (beside, not
inside, the live ``parquet/`` tree, so ``gatherer rebuild`` of a day from its journal leaves them
alone), each with the venue's row as sent (``raw``). The result goes to ``gaps/date=D/backfill.jsonl``.
A request that fails for a passing reason (connection, rate limit after retries) writes no result
and is tried again on the next pass.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa

from gatherer.clock import Clock, trading_day_of
from gatherer.errors import ApiError, ConnectError, RateLimited
from gatherer.files import write_parquet_atomic
from gatherer.ledger.chain import VolumeGap
from gatherer.ledger.gapfile import read_backfill, read_gaps, write_backfill
from gatherer.venues.ls.rest import RestClient

log = logging.getLogger(__name__)

STATUSES = ("filled", "partly", "not_fillable")
MAX_PAGES = 200
"""Pages one gap may take (t1301 pages hold 20 rows: 4,000 prints, ~100 s at 2 calls/s)."""
READ_COUNT = 500
"""``readcnt`` for o3116 / o3136."""


@dataclass(frozen=True, slots=True)
class BackfillTr:
    """How one real-time trade feed is backfilled."""

    rest_tr: str
    inblock: Callable[[VolumeGap], dict[str, Any]]
    time_field: str


def _hhmm(time: str) -> str:
    digits = "".join(ch for ch in time if ch.isdigit())
    return digits[:4] if len(digits) >= 4 else ""


def _t1301(gap: VolumeGap) -> dict[str, Any]:
    return {
        "shcode": gap.symbol,
        "cvolume": 0,
        "starttime": _hhmm(gap.start_time),
        "endtime": _hhmm(gap.end_time),
        "cts_time": "",
    }


def _t8454(exchange: str) -> Callable[[VolumeGap], dict[str, Any]]:
    def inblock(gap: VolumeGap) -> dict[str, Any]:
        return {**_t1301(gap), "exchgubun": exchange}

    return inblock


def _t2212(gap: VolumeGap) -> dict[str, Any]:
    return {
        "focode": gap.symbol,
        "cvolume": 0,
        "stime": _hhmm(gap.start_time),
        "etime": _hhmm(gap.end_time),
        "cts_time": " ",
    }


def _o3116(gap: VolumeGap) -> dict[str, Any]:
    return {"gubun": "0", "shcode": gap.symbol, "readcnt": READ_COUNT, "cts_seq": 0}


def _o3136(gap: VolumeGap) -> dict[str, Any]:
    return {"gubun": "0", "mktgb": "O", "shcode": gap.symbol, "readcnt": READ_COUNT, "cts_seq": 0}


BACKFILL_TRS: Mapping[str, BackfillTr] = {
    "S3_": BackfillTr("t1301", _t1301, "chetime"),
    "K3_": BackfillTr("t1301", _t1301, "chetime"),
    "NS3": BackfillTr("t8454", _t8454("N"), "chetime"),
    "US3": BackfillTr("t8454", _t8454("U"), "chetime"),
    "FC0": BackfillTr("t2212", _t2212, "chetime"),
    "FC9": BackfillTr("t2212", _t2212, "chetime"),
    "OC0": BackfillTr("t2212", _t2212, "chetime"),
    "OVC": BackfillTr("o3116", _o3116, "ovstime"),
    "WOC": BackfillTr("o3136", _o3136, "ovstime"),
}
"""Real-time trade TR -> the REST TR that backfills it (LS_OPENAPI.md §8.1)."""

REST_SCHEMA = pa.schema(
    [
        pa.field("gap_id", pa.string(), nullable=False),
        pa.field("trading_day", pa.date32(), nullable=False),
        pa.field("tr_cd", pa.string(), nullable=False),
        pa.field("rest_tr", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("time", pa.string()),
        pa.field("price", pa.decimal128(24, 9)),
        pa.field("cvolume", pa.int64(), nullable=False),
        pa.field("volume", pa.int64(), nullable=False),
        pa.field("chained", pa.bool_(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
    ],
    metadata={"source": "rest"},
)
"""Columns of a backfilled row (docs/formats.md, "Gaps, backfill and the ledger")."""


@dataclass
class BackfillResult:
    id: str
    status: str
    rest_tr: str
    missing: int
    filled: int = 0
    """Volume of the fetched prints that chain from V_a (all of ``missing`` when ``filled``)."""
    rows: int = 0
    pages: int = 0
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "rest_tr": self.rest_tr,
            "missing": self.missing,
            "filled": self.filled,
            "rows": self.rows,
            "pages": self.pages,
            "detail": self.detail,
        }


@dataclass
class PassStats:
    gaps: int = 0
    tried: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    deferred: int = 0
    """Requests that failed for a passing reason; tried again next pass."""


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip().replace("\x00", "") or "x")
    except ValueError:
        try:
            return int(Decimal(str(value).strip()))
        except (InvalidOperation, ValueError):
            return None


def _price(value: object) -> Decimal | None:
    try:
        return Decimal(str(value).strip()).quantize(Decimal("1e-9"))
    except (InvalidOperation, ValueError):
        return None


def rest_path(root: Path, gap: VolumeGap) -> Path:
    return (
        root / "backfill" / f"date={gap.trading_day}" / f"market={gap.market}" / "channel=trade"
        / "source=rest" / f"{gap.id}.parquet"
    )  # fmt: skip


def chain_rows(
    gap: VolumeGap, rows: Iterable[Mapping[str, Any]]
) -> tuple[list[tuple[Mapping[str, Any], bool]], int]:
    """The rows inside the gap, ascending and deduplicated on volume, each with whether it links to
    the chain from ``V_a``; and the volume that links."""
    top = gap.volume_after - gap.size_after
    by_volume: dict[int, Mapping[str, Any]] = {}
    for row in rows:
        volume = _int(row.get("volume"))
        if volume is not None and gap.volume_before < volume <= top:
            by_volume.setdefault(volume, row)
    out: list[tuple[Mapping[str, Any], bool]] = []
    linked = gap.volume_before
    filled = 0
    broken = False
    for volume in sorted(by_volume):
        row = by_volume[volume]
        size = _int(row.get("cvolume"))
        ok = not broken and size is not None and volume - size == linked
        if ok:
            assert size is not None
            linked = volume
            filled += size
        else:
            broken = True
        out.append((row, ok))
    return out, filled


class Backfiller:
    """Backfills a day's volume gaps over REST; ``run_pass`` does what is not done yet."""

    def __init__(self, root: Path, rest: RestClient, clock: Clock, *, max_pages: int = MAX_PAGES) -> None:
        self._root = root
        self._rest = rest
        self._clock = clock
        self._max_pages = max_pages

    async def run_pass(self, day: dt.date, on_gap: Callable[[int, int], None] | None = None) -> PassStats:
        """Backfill every gap of ``day`` that has no result yet; ``on_gap(done, of)`` before each."""
        stats = PassStats()
        gaps = read_gaps(self._root, day)
        done = read_backfill(self._root, day)
        stats.gaps = len(gaps)
        # The biggest holes first (§8.5: most-traded first), within the TRs' per-second limits.
        todo = sorted((g for g in gaps if g.id not in done), key=lambda g: -g.missing)
        for i, gap in enumerate(todo):
            if on_gap is not None:
                on_gap(i, len(todo))
            result = await self.fill(gap)
            if result is None:
                stats.deferred += 1
                continue
            stats.tried += 1
            stats.by_status[result.status] = stats.by_status.get(result.status, 0) + 1
            write_backfill(self._root, day, result.to_json())
        return stats

    async def fill(self, gap: VolumeGap) -> BackfillResult | None:
        """Fetch and write one gap's prints; None when it should be tried again later."""
        how = BACKFILL_TRS.get(gap.tr_cd)
        if how is None:
            return BackfillResult(
                gap.id, "not_fillable", "", gap.missing, detail=f"no REST TR backfills {gap.tr_cd}"
            )
        today = trading_day_of(self._clock.time_ns())
        if gap.trading_day != today.isoformat():
            return BackfillResult(
                gap.id, "not_fillable", how.rest_tr, gap.missing,
                detail=f"{how.rest_tr} serves the current day only; the gap is on {gap.trading_day}",
            )  # fmt: skip
        rows: list[Mapping[str, Any]] = []
        pages = 0
        stopped = ""
        try:
            async with aclosing(self._rest.pages(how.rest_tr, how.inblock(gap))) as bodies:
                async for body in bodies:
                    pages += 1
                    page = body.get(f"{how.rest_tr}OutBlock1") or []
                    page = [r for r in page if isinstance(r, Mapping)]
                    rows.extend(page)
                    volumes = [v for v in (_int(r.get("volume")) for r in page) if v is not None]
                    if not volumes or min(volumes) <= gap.volume_before:
                        break
                    if pages >= self._max_pages:
                        stopped = f"stopped after {pages} pages"
                        break
        except (ConnectError, RateLimited) as exc:
            log.warning("backfill of %s %s deferred: %s", gap.tr_cd, gap.symbol, exc)
            return None
        except ApiError as exc:
            return BackfillResult(
                gap.id, "not_fillable", how.rest_tr, gap.missing, pages=pages, detail=str(exc)
            )
        chained, filled = chain_rows(gap, rows)
        if chained:
            self._write(gap, how, chained)
        if filled == gap.missing and all(ok for _r, ok in chained):
            status, detail = "filled", ""
        elif chained:
            status = "partly"
            detail = stopped or f"{gap.missing - filled:,} of {gap.missing:,} not in the venue's rows"
        else:
            status, detail = "not_fillable", stopped or "the venue returned no print inside the gap"
        return BackfillResult(gap.id, status, how.rest_tr, gap.missing, filled, len(chained), pages, detail)

    def _write(self, gap: VolumeGap, how: BackfillTr, rows: list[tuple[Mapping[str, Any], bool]]) -> None:
        day = dt.date.fromisoformat(gap.trading_day)
        columns: dict[str, list[Any]] = {name: [] for name in REST_SCHEMA.names}
        for row, ok in rows:
            columns["gap_id"].append(gap.id)
            columns["trading_day"].append(day)
            columns["tr_cd"].append(gap.tr_cd)
            columns["rest_tr"].append(how.rest_tr)
            columns["symbol"].append(gap.symbol)
            time = row.get(how.time_field)
            columns["time"].append(None if time is None else str(time).replace("\x00", ""))
            columns["price"].append(_price(row.get("price")))
            columns["cvolume"].append(_int(row.get("cvolume")) or 0)
            columns["volume"].append(_int(row.get("volume")))
            columns["chained"].append(ok)
            columns["raw"].append(json.dumps(row, ensure_ascii=False, default=str))
        table = pa.Table.from_pydict(columns, schema=REST_SCHEMA)
        write_parquet_atomic(table, rest_path(self._root, gap))


__all__ = [
    "BACKFILL_TRS",
    "MAX_PAGES",
    "REST_SCHEMA",
    "STATUSES",
    "BackfillResult",
    "Backfiller",
    "PassStats",
    "chain_rows",
]
