"""How complete a trading day is: ``quality/date=D/quality.parquet`` (docs/formats.md, "Quality").

One row per (market, channel, symbol) of every trade feed recorded, and one per market
(``symbol`` empty):

- **volume**: the trade volume captured (the prints recorded plus those backfilled over REST)
  against the venue's own cumulative volume for the instrument, asked over REST once the day is
  over: the newest row of the backfill TR's first page (t1301 / t8454 for stocks, t2212 for KRX
  derivatives, o3116 / o3136 overseas; LS_OPENAPI.md §8). Those TRs carry the cumulative
  ``volume`` on every row, documented with field tables in LS_OPENAPI.md, and the simulator serves
  them; t1102 / t8407 / t2101 / o3105 would give the same figure but have no field tables there.
  Asked while the market still trades, the venue's figure keeps growing and the score is a floor;
- **time**: seconds of the market's trading windows (exchange calendars, ``venues.ls.hours``, less
  what the venue's JIF said was a halt, a delayed open or an early close) that the market's
  connections covered: from its first to its last frame, less its outages;
- **holes**: volume-chain gaps (``ledger``) not filled by backfill, and their volume;
- ``research_grade``: volume score ≥ ``MIN_VOLUME_SCORE``, time score ≥ ``MIN_TIME_SCORE`` and no
  unfilled hole (a market: every one of its symbols research grade);
- **day over day**: a market whose frames fall below half the median of its last 20 quality
  files is flagged (``frames_low``).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from gatherer.clock import DEFAULT_CUTOFF, seoul_ns
from gatherer.decode import STOCK_MARKET
from gatherer.files import write_parquet_atomic
from gatherer.ledger.chain import CHAIN_FIELDS
from gatherer.ledger.scan import Ledger, market_channel
from gatherer.venues.ls.exchanges import DEFAULT_OVERSEAS_GROUP, KRX_MARKETS, exchange_group
from gatherer.venues.ls.hours import SessionWindows
from gatherer.venues.ls.sessions import JIF_MARKETS, jif_verdict

MIN_VOLUME_SCORE = 0.999
MIN_TIME_SCORE = 0.99
DAY_OVER_DAY = 20
"""Quality files of earlier days the frame count is compared with (their median)."""

SCHEMA = pa.schema(
    [
        ("trading_day", pa.date32()), ("market", pa.string()), ("channel", pa.string()),
        ("symbol", pa.string()), ("tr_cd", pa.string()), ("frames", pa.int64()),
        ("recorded_volume", pa.int64()), ("backfilled_volume", pa.int64()), ("captured_volume", pa.int64()),
        ("venue_volume", pa.int64()), ("venue_tr", pa.string()), ("volume_score", pa.float64()),
        ("traded_s", pa.float64()), ("covered_s", pa.float64()), ("time_score", pa.float64()),
        ("unfilled_holes", pa.int64()), ("unfilled_volume", pa.int64()), ("before_first_volume", pa.int64()),
        ("research_grade", pa.bool_()),
        ("frames_median_20d", pa.float64()), ("frames_low", pa.bool_()),
    ]
)  # fmt: skip
"""Columns of ``quality.parquet`` (docs/formats.md, "Quality")."""


@dataclass
class QualityRow:
    trading_day: dt.date
    market: str
    channel: str
    symbol: str
    """Empty on a market's row."""
    tr_cd: str
    frames: int = 0
    recorded_volume: int = 0
    backfilled_volume: int = 0
    captured_volume: int = 0
    venue_volume: int | None = None
    venue_tr: str = ""
    volume_score: float | None = None
    traded_s: float = 0.0
    covered_s: float = 0.0
    time_score: float | None = None
    unfilled_holes: int = 0
    unfilled_volume: int = 0
    before_first_volume: int = 0
    """The venue's volume before the first print recorded (``Recorded.before_first``)."""
    research_grade: bool = False
    frames_median_20d: float | None = None
    frames_low: bool = False


Stream = tuple[str, str]
"""(tr_cd, symbol) of a trade feed."""


def quality_path(root: Path, day: dt.date) -> Path:
    return Path(root) / "quality" / f"date={day.isoformat()}" / "quality.parquet"


@dataclass
class Recorded:
    """One trade feed's prints in Parquet."""

    prints: int = 0
    volume: int = 0
    """Sum of the prints' sizes."""
    first_ns: int | None = None
    before_first: int = 0
    """The venue's cumulative volume before the first print recorded (its volume minus its size):
    what traded before the feed's first print reached us, which no chain can show as a hole."""


def _fold(out: dict[Stream, Recorded], tr_cd: str, part: pa.Table, cum: str, size: str) -> None:
    """Add one file's rows of one trade TR to ``out``."""
    grouped = part.group_by("symbol").aggregate([(size, "sum"), (size, "count"), ("recv_ns", "min")])
    firsts = part.join(grouped.select(["symbol", "recv_ns_min"]), "symbol")
    firsts = firsts.filter(pc.equal(firsts.column("recv_ns"), firsts.column("recv_ns_min")))
    head = {
        r["symbol"]: (r[cum] or 0) - (r[size] or 0) for r in firsts.select(["symbol", cum, size]).to_pylist()
    }
    for g in grouped.to_pylist():
        rec = out.setdefault((tr_cd, g["symbol"]), Recorded())
        rec.prints += g[f"{size}_count"]
        rec.volume += int(g[f"{size}_sum"] or 0)
        first = g["recv_ns_min"]
        if rec.first_ns is None or first < rec.first_ns:
            rec.first_ns, rec.before_first = first, max(0, int(head.get(g["symbol"], 0)))


def _recorded(files: list[str]) -> dict[Stream, Recorded]:
    """(tr_cd, symbol) -> its prints in the trade files given."""
    out: dict[Stream, Recorded] = {}
    wanted = {"tr_cd", "symbol", "recv_ns"} | {f for fields in CHAIN_FIELDS.values() for f in fields[:2]}
    for path in files:
        names = pq.read_schema(path).names
        if "tr_cd" not in names:
            continue
        table = pq.read_table(path, columns=[n for n in names if n in wanted])
        for tr_cd in pc.unique(table.column("tr_cd")).to_pylist():
            fields = CHAIN_FIELDS.get(tr_cd)
            part = table.filter(pc.equal(table.column("tr_cd"), tr_cd))
            if fields is None or not {fields[0], fields[1]} <= set(part.column_names):
                continue
            _fold(out, tr_cd, part, fields[0], fields[1])
    return out


def captured(root: Path, day: dt.date) -> tuple[dict[Stream, Recorded], dict[Stream, int]]:
    """Per (tr_cd, symbol): the prints recorded in Parquet, and the volume backfilled over REST."""
    base = Path(root) / "parquet" / f"date={day.isoformat()}"
    files = sorted(str(p) for p in base.glob("market=*/channel=trade/*.parquet")) if base.is_dir() else []
    recorded = _recorded(files)
    rest = Path(root) / "backfill" / f"date={day.isoformat()}"
    paths = sorted(str(p) for p in rest.glob("market=*/channel=trade/source=rest/*.parquet"))
    backfilled: dict[tuple[str, str], int] = defaultdict(int)
    if paths:
        table = ds.dataset(paths, format="parquet").to_table(
            columns=["tr_cd", "symbol", "cvolume", "chained"]
        )
        for r in (
            table.filter(pc.field("chained"))
            .group_by(["tr_cd", "symbol"])
            .aggregate([("cvolume", "sum")])
            .to_pylist()
        ):
            backfilled[(r["tr_cd"], r["symbol"])] += int(r["cvolume_sum"])
    return recorded, dict(backfilled)


def market_groups(root: Path, day: dt.date, market: str) -> set[str]:
    """The session groups a market's instruments trade in (overseas: by the day's master)."""
    if market in KRX_MARKETS:
        return {market}
    if market == STOCK_MARKET:  # a TR of both stock markets (NXT, KRX+NXT): KRX stock hours
        return {"kospi"}
    path = Path(root) / "masters" / f"date={day.isoformat()}" / f"{market}.parquet"
    if not path.exists() or "ExchCd" not in pq.read_schema(path).names:
        return {DEFAULT_OVERSEAS_GROUP}
    codes = pq.read_table(path, columns=["ExchCd"]).column("ExchCd").to_pylist()
    return {exchange_group(str(c or ""))[0] for c in set(codes)}


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        elif e > s:
            out.append((s, e))
    return out


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    return sum(max(0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def traded_windows(windows: SessionWindows, groups: set[str], day: dt.date) -> list[tuple[int, int]]:
    """The market's trading windows inside trading day ``day`` (Seoul 07:30 to 07:30)."""
    lo = seoul_ns(day, DEFAULT_CUTOFF)
    hi = seoul_ns(day + dt.timedelta(days=1), DEFAULT_CUTOFF)
    spans = [
        (max(s, lo), min(e, hi)) for g in groups for s, e in windows.windows.get(g, []) if s < hi and e > lo
    ]
    return _merge(spans)


def subtract(spans: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` less ``holes`` (both lists of [start, end) in ns)."""
    out = list(spans)
    for h0, h1 in _merge(holes):
        cut: list[tuple[int, int]] = []
        for s0, s1 in out:
            if h1 <= s0 or h0 >= s1:
                cut.append((s0, s1))
                continue
            if s0 < h0:
                cut.append((s0, h0))
            if h1 < s1:
                cut.append((h1, s1))
        out = cut
    return out


def jif_quiet(root: Path, day: dt.date) -> dict[str, list[tuple[int, int]]]:
    """Market -> the spans JIF said it was not in continuous trading (a halt, a delayed open, an
    early close): from a ``quiet`` or ``closed`` verdict (``venues.ls.sessions.jif_verdict``) to the
    next ``trading`` one, or the end of the trading day. Taken out of the calendar's windows."""
    base = Path(root) / "parquet" / f"date={day.isoformat()}" / "market=all" / "channel=status"
    files = sorted(str(p) for p in base.glob("*.parquet")) if base.is_dir() else []
    if not files:
        return {}
    table = ds.dataset(files, format="parquet").to_table()
    if not {"tr_cd", "jangubun", "jstatus", "recv_ns"} <= set(table.column_names):
        return {}
    table = table.filter(pc.equal(table.column("tr_cd"), "JIF")).sort_by("recv_ns")
    end = seoul_ns(day + dt.timedelta(days=1), DEFAULT_CUTOFF)
    since: dict[str, int] = {}
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in table.select(["recv_ns", "jangubun", "jstatus"]).to_pylist():
        verdict = jif_verdict(str(r["jangubun"] or "").strip(), str(r["jstatus"] or "").strip())
        for market in JIF_MARKETS.get(str(r["jangubun"] or "").strip(), ()) if verdict else ():
            if verdict == "trading" and market in since:
                out[market].append((since.pop(market), r["recv_ns"]))
            elif verdict != "trading" and market not in since:
                since[market] = r["recv_ns"]
    for market, start in since.items():
        out[market].append((start, end))
    return dict(out)


def time_coverage(
    ledger: Ledger, traded: Mapping[str, list[tuple[int, int]]]
) -> dict[str, tuple[float, float]]:
    """Market -> (seconds it traded, seconds of those its connections covered)."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for c in ledger.coverage.values():
        market = market_channel(c.tr_cd)[0]
        if c.first_ns is not None and c.last_ns is not None:
            first[market] = min(first.get(market, c.first_ns), c.first_ns)
            last[market] = max(last.get(market, c.last_ns), c.last_ns)
    down: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for g in ledger.gaps:
        if g.kind == "outage":
            down[g.market].append((g.start_ns, g.end_ns if g.end_ns is not None else last.get(g.market, 0)))
    out: dict[str, tuple[float, float]] = {}
    for market, spans in traded.items():
        total = sum(e - s for s, e in spans)
        if market not in first:
            out[market] = (total / 1e9, 0.0)
            continue
        up = [(first[market], last[market])]
        covered = _overlap(spans, up) - _overlap(spans, _merge(down.get(market, [])))
        out[market] = (total / 1e9, max(0, covered) / 1e9)
    return out


def day_over_day(root: Path, day: dt.date, market_frames: Mapping[str, int]) -> dict[str, float | None]:
    """Market -> the median of its frames over the last ``DAY_OVER_DAY`` earlier quality files."""
    base = Path(root) / "quality"
    earlier = sorted(
        (p for p in base.glob("date=*/quality.parquet") if p.parent.name[5:] < day.isoformat()),
        key=lambda p: p.parent.name,
    )[-DAY_OVER_DAY:] if base.is_dir() else []  # fmt: skip
    history: dict[str, list[int]] = defaultdict(list)
    for path in earlier:
        for r in pq.read_table(path, columns=["market", "symbol", "frames"]).to_pylist():
            if r["symbol"] == "":
                history[r["market"]].append(int(r["frames"]))
    return {m: (statistics.median(history[m]) if history.get(m) else None) for m in market_frames}


def score_rows(
    day: dt.date,
    recorded: Mapping[Stream, Recorded],
    backfilled: Mapping[Stream, int],
    venue: Mapping[tuple[str, str], tuple[str, int | None]],
    ledger: Ledger,
    times: Mapping[str, tuple[float, float]],
) -> list[QualityRow]:
    """One row per (trade TR, symbol) recorded, registered or backfilled; pure."""
    holes: dict[tuple[str, str], list[int]] = defaultdict(list)
    for g in ledger.gaps:
        if g.kind == "volume" and g.status != "filled":
            holes[(g.tr_cd, g.symbols[0])].append(max(0, (g.missing or 0) - (g.filled or 0)))
    keys = set(recorded) | set(backfilled) | set(venue)
    keys |= {(c.tr_cd, c.symbol) for c in ledger.coverage.values() if c.tr_cd in CHAIN_FIELDS}
    rows = []
    for tr_cd, symbol in sorted(keys):
        market, channel = market_channel(tr_cd)
        rec = recorded.get((tr_cd, symbol), Recorded())
        prints, vol = rec.prints, rec.volume
        back = backfilled.get((tr_cd, symbol), 0)
        venue_tr, venue_vol = venue.get((tr_cd, symbol), ("", None))
        traded_s, covered_s = times.get(market, (0.0, 0.0))
        row = QualityRow(
            day, market, channel, symbol, tr_cd, prints, vol, back, vol + back, venue_vol, venue_tr,
            traded_s=traded_s, covered_s=covered_s,
            unfilled_holes=len(holes[(tr_cd, symbol)]), unfilled_volume=sum(holes[(tr_cd, symbol)]),
            before_first_volume=rec.before_first,
        )  # fmt: skip
        _grade(row)
        rows.append(row)
    return rows


def _grade(row: QualityRow) -> None:
    if row.venue_volume:
        row.volume_score = row.captured_volume / row.venue_volume
    elif row.venue_volume == 0:
        row.volume_score = 1.0 if row.captured_volume == 0 else None
    row.time_score = row.covered_s / row.traded_s if row.traded_s > 0 else None
    row.research_grade = (
        row.volume_score is not None
        and row.volume_score >= MIN_VOLUME_SCORE
        and (row.time_score is None or row.time_score >= MIN_TIME_SCORE)
        and row.unfilled_holes == 0
    )


def market_rows(
    day: dt.date,
    rows: list[QualityRow],
    market_frames: Mapping[str, int],
    medians: Mapping[str, float | None],
) -> list[QualityRow]:
    """Per market: the sums of its symbols' rows; graded as research grade only if all of them are."""
    out = []
    for market in sorted({r.market for r in rows} | set(market_frames)):
        mine = [r for r in rows if r.market == market]
        known = [r for r in mine if r.venue_volume is not None]
        traded_s = mine[0].traded_s if mine else 0.0
        covered_s = mine[0].covered_s if mine else 0.0
        m = QualityRow(
            day, market, "", "", "", market_frames.get(market, 0),
            sum(r.recorded_volume for r in mine), sum(r.backfilled_volume for r in mine),
            sum(r.captured_volume for r in mine),
            sum(r.venue_volume or 0 for r in known) if known else None,
            ",".join(sorted({r.venue_tr for r in known if r.venue_tr})),
            traded_s=traded_s, covered_s=covered_s, unfilled_holes=sum(r.unfilled_holes for r in mine),
            unfilled_volume=sum(r.unfilled_volume for r in mine),
            before_first_volume=sum(r.before_first_volume for r in mine),
        )  # fmt: skip
        _grade(m)
        venue = sum(r.venue_volume or 0 for r in known)
        # The volume score over the feeds the venue gave a figure for (all of them, normally).
        m.volume_score = sum(r.captured_volume for r in known) / venue if venue else m.volume_score
        m.research_grade = m.research_grade and all(r.research_grade for r in mine)
        m.frames_median_20d = medians.get(market)
        m.frames_low = m.frames_median_20d is not None and m.frames < m.frames_median_20d / 2
        out.append(m)
    return out


def write_quality(root: Path, day: dt.date, rows: list[QualityRow]) -> Path:
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for r in rows:
        for name, value in asdict(r).items():
            columns[name].append(value)
    path = quality_path(root, day)
    write_parquet_atomic(pa.table(columns, schema=SCHEMA), path)
    return path


def read_quality(root: Path, day: dt.date) -> list[dict[str, Any]]:
    path = quality_path(root, day)
    return pq.read_table(path).to_pylist() if path.exists() else []
