"""``gatherer report --format html|json``: the day's report as one self-contained page, or as data.

The page holds four plots drawn here as SVG (``ops.plots``): frames per minute per market through
the day, the reconnect and gap timeline, a coverage heatmap per market and channel, and the
backfill results; then the completeness score (``quality/date=D/quality.parquet``, when written),
the text report's tables, and every file of the day with its rows and SHA-256 (from the manifest
when the day is sealed, computed otherwise). No script, no stylesheet or font fetched: it opens
anywhere, offline.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import msgspec
import pyarrow.compute as pc
import pyarrow.dataset as ds

from gatherer.ledger.quality import QualityRow, read_quality
from gatherer.ops import plots
from gatherer.ops.report import DayReport, render
from gatherer.seal import Entry, day_files, describe, is_sealed, read_manifest

_BUCKETS = 120
"""Time buckets across the recorded span (at least a second each, a minute for a long day)."""


@dataclass
class DayData:
    """What the plots and tables of a day's page are drawn from."""

    report: DayReport
    lo_ns: int = 0
    hi_ns: int = 0
    bucket_ns: int = 60 * 10**9
    counts: dict[tuple[str, str], Counter[int]] = field(default_factory=dict)
    """(market, channel) -> bucket start ns -> Parquet rows received in it."""
    quality: list[dict[str, Any]] = field(default_factory=list)
    files: list[Entry] = field(default_factory=list)
    sealed: bool = False


def _bucket(lo: int, hi: int) -> int:
    span = max(1, hi - lo)
    step = max(10**8, span // _BUCKETS)
    return 60 * 10**9 if span > 2 * 3600 * 10**9 else step - step % 10**8


def gather(root: Path, report: DayReport, *, hash_files: bool = True) -> DayData:
    data = DayData(report)
    day = report.day
    if report.first_ns:
        data.lo_ns, data.hi_ns = min(report.first_ns.values()), max(report.last_ns.values())
    data.bucket_ns = _bucket(data.lo_ns, data.hi_ns)
    base = root / "parquet" / f"date={day.isoformat()}"
    for channel_dir in sorted(base.glob("market=*/channel=*")) if base.is_dir() else []:
        key = (channel_dir.parent.name[7:], channel_dir.name[8:])
        counts: Counter[int] = Counter()
        files = sorted(str(p) for p in channel_dir.glob("*.parquet"))
        for batch in ds.dataset(files, format="parquet").to_batches(columns=["recv_ns"]):
            ns = batch.column(0)
            starts = pc.multiply(pc.divide(ns, data.bucket_ns), data.bucket_ns)
            for item in pc.value_counts(starts).to_pylist():
                counts[int(item["values"])] += int(item["counts"])
        data.counts[key] = counts
        if counts and not report.first_ns:
            data.lo_ns = min(data.lo_ns or min(counts), min(counts))
            data.hi_ns = max(data.hi_ns, max(counts) + data.bucket_ns)
    data.quality = read_quality(root, day)
    data.sealed = is_sealed(root, day)
    if data.sealed:
        data.files = list(read_manifest(root, day).files)
    elif hash_files:
        data.files = [describe(root, p) for p in day_files(root, day)]
    return data


def _per_market(data: DayData) -> dict[str, Counter[int]]:
    out: dict[str, Counter[int]] = defaultdict(Counter)
    for (market, _channel), counts in data.counts.items():
        out[market].update(counts)
    return out


def _timeline(data: DayData) -> str:
    report = data.report
    gaps = [g for g in report.ledger.gaps if g.kind == "volume"] if report.ledger else []
    lanes: list[str] = []
    bars: list[tuple[int, int, int, str, str]] = []

    def lane(name: str) -> int:
        if name not in lanes:
            lanes.append(name)
        return lanes.index(name)

    end = data.hi_ns
    for o in report.outages:
        stop = o.end_ns if o.end_ns is not None else end
        label = f"{o.conn_id} down {(stop - o.start_ns) / 1e9:.1f} s: {o.cause}"
        bars.append((lane(o.conn_id), o.start_ns, stop, "#444", label))
    for g in gaps:
        colour = plots.STATUS_COLOURS.get(g.status, "#7f7f7f")
        label = f"{g.tr_cd} {g.symbols[0]}: {g.missing or 0:,} missing, {g.status}"
        bars.append((lane(f"{g.tr_cd} {g.symbols[0]}"), g.start_ns, g.end_ns or g.start_ns, colour, label))
    lo = min([data.lo_ns, *(b[1] for b in bars)]) if bars else data.lo_ns
    return plots.timeline("Reconnects and gaps", lanes, bars, lo, max(end, lo + 1))


def _backfill(data: DayData) -> str:
    report = data.report
    gaps = [g for g in report.ledger.gaps if g.kind == "volume"] if report.ledger else []
    by_status: Counter[str] = Counter()
    for g in gaps:
        by_status[g.status or "pending"] += g.missing or 0
    filled = sum(g.filled or 0 for g in gaps)
    items = [(f"{s} gaps", v, plots.STATUS_COLOURS.get(s, "#7f7f7f")) for s, v in sorted(by_status.items())]
    if gaps:
        items.append(("backfilled", filled, "#1f77b4"))
    return plots.bars("Backfill: volume missing by gap status, and volume fetched", items, "volume")


def plot_svgs(data: DayData) -> dict[str, str]:
    lo, hi = data.lo_ns, max(data.hi_ns, data.lo_ns + 1)
    per_market = _per_market(data)
    rows = {f"{m}/{c}": counts for (m, c), counts in data.counts.items()}
    return {
        "frames": plots.rate_lines("Frames per minute per market", per_market, data.bucket_ns, lo, hi),
        "timeline": _timeline(data),
        "coverage": plots.heatmap("Coverage per market and channel", rows, data.bucket_ns, lo, hi),
        "backfill": _backfill(data),
    }


def quality_line(r: QualityRow | dict[str, Any]) -> str:
    """One market's quality row as a sentence."""
    g = r if isinstance(r, dict) else r.__dict__
    vol = "no venue volume" if g["volume_score"] is None else f"volume {g['volume_score']:.4f}"
    vol += f" ({g['captured_volume']:,} of {g['venue_volume']:,})" if g["venue_volume"] is not None else ""
    time = "" if g["time_score"] is None else f", time {g['time_score']:.4f}"
    low = f", frames below half the 20-day median ({g['frames_median_20d']:,.0f})" if g["frames_low"] else ""
    grade = "research grade" if g["research_grade"] else "not research grade"
    head = g.get("before_first_volume") or 0
    before = f", {head:,} traded before the first print recorded" if head else ""
    return (
        f"{g['market']:<9} {grade}: {vol}{time}, {g['unfilled_holes']} unfilled hole(s)"
        f" ({g['unfilled_volume']:,} volume){before}, {g['frames']:,} frames{low}"
    )


def _table(headers: list[str], rows: list[list[Any]], css_class: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _fmt(v: Any) -> Any:
    return (
        f"{v:.4f}"
        if isinstance(v, float)
        else (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v)
    )


_CSS = """body{font-family:sans-serif;margin:2em;max-width:1000px}h1{font-size:1.4em}
table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}
td{font-family:monospace}pre{background:#f6f6f6;padding:1em;font-size:12px;overflow-x:auto}
svg.plot{display:block;margin:1em 0;border:1px solid #eee}"""

_QUALITY_COLUMNS = [
    "market", "channel", "symbol", "tr_cd", "frames", "captured_volume", "venue_volume", "venue_tr",
    "volume_score", "time_score", "unfilled_holes", "unfilled_volume", "before_first_volume",
    "research_grade", "frames_low",
]  # fmt: skip


def render_html(data: DayData, *, version: str, limit: int = 20) -> str:
    day = data.report.day
    svgs = plot_svgs(data)
    markets = [r for r in data.quality if r["symbol"] == ""]
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>gatherer report {day}</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>gatherer report for trading day {day}</h1>",
        f"<p>Times in Asia/Seoul. gatherer {escape(version)}."
        + (" The day is sealed (manifest)." if data.sealed else " The day is not sealed.")
        + "</p>",
        '<h2 id="plots">Plots</h2>',
        *svgs.values(),
        '<h2 id="quality">Completeness</h2>',
    ]
    if data.quality:
        parts.append("<pre>" + escape("\n".join(quality_line(r) for r in markets)) + "</pre>")
        symbols = [r for r in data.quality if r["symbol"] != ""]
        parts.append(
            _table(
                _QUALITY_COLUMNS,
                [[_fmt(r[c]) for c in _QUALITY_COLUMNS] for r in markets + symbols],
                "quality",
            )
        )
    else:
        parts.append(f"<p>No quality file: <code>gatherer quality --date {day}</code> writes it.</p>")
    parts += ['<h2 id="text">Report</h2>', "<pre>" + escape(render(data.report, limit=limit)) + "</pre>"]
    parts.append(f'<h2 id="files">Files ({len(data.files):,})</h2>')
    parts.append(
        _table(
            ["path", "bytes", "rows", "seq", "SHA-256"],
            [_file_row(e) for e in data.files],
            "files",
        )
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _file_row(e: Entry) -> list[str]:
    seq = "" if e.seq_min is None else f"{e.seq_min}–{e.seq_max}"
    return [e.path, f"{e.size:,}", "" if e.rows is None else f"{e.rows:,}", seq, e.sha256]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()}


def render_json(data: DayData) -> str:
    r = data.report
    doc = {
        "trading_day": r.day.isoformat(),
        "frames": sum(r.frames.values()),
        "registered": len(r.registered),
        "silent": [list(k) for k in r.silent],
        "refused": sum(r.refused.values()),
        "unanswered": len(r.unanswered),
        "parquet_rows": [
            {"market": m, "channel": c, "rows": n} for (m, c), n in sorted(r.parquet_rows.items())
        ],
        "quarantine": dict(r.quarantine),
        "outages": [asdict(o) for o in r.outages],
        "backfill_rows": r.backfill_rows,
        "quality": [_jsonable(q) for q in data.quality],
        "files": [msgspec.to_builtins(e) for e in data.files],
        "sealed": data.sealed,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False)
