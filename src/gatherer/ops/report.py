"""``gatherer report --date D``: what a day captured and what, if anything, is missing, and why.

A first, text version, read from the day's files only (an observer: it changes nothing):
- the day's ledger (``gatherer.ledger.build_ledger``, from the journal and the gap files): per
  (TR, key) the frames received and the first/last receive time; what was registered, refused
  or never answered; every connection's outages with the registrations that were without data
  and how long its streams stayed dark (disconnect to re-acknowledgement: median and longest);
  the cumulative-volume gaps with what backfill fetched for them;
- the Parquet partitions: rows per market and channel; the quarantine: frames per reason; the
  backfilled rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from gatherer.capture import Damage
from gatherer.clock import to_seoul
from gatherer.ledger import Ledger, build_ledger


@dataclass
class Outage:
    conn_id: str
    start_ns: int
    end_ns: int | None
    cause: str
    registrations: int
    dark_s: list[float] = field(default_factory=list)
    """Per stream it held: disconnect to re-acknowledgement, in seconds (re-acknowledged ones only)."""
    not_back: int = 0
    """Streams it held that were not acknowledged again (refused, or the day ended first)."""


@dataclass
class DayReport:
    day: dt.date
    frames: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(tr_cd, tr_key) -> data frames."""
    first_ns: dict[tuple[str, str], int] = field(default_factory=dict)
    last_ns: dict[tuple[str, str], int] = field(default_factory=dict)
    registered: set[tuple[str, str]] = field(default_factory=set)
    refused: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(tr_cd, tr_key, rsp_cd) -> refusals."""
    unanswered: set[tuple[str, str]] = field(default_factory=set)
    outages: list[Outage] = field(default_factory=list)
    parquet_rows: Counter[tuple[str, str]] = field(default_factory=Counter)
    quarantine: Counter[str] = field(default_factory=Counter)
    damage: list[Damage] = field(default_factory=list)
    ledger: Ledger | None = None
    backfill_rows: int = 0
    tape: dict[str, tuple[int, int]] = field(default_factory=dict)
    """The consolidated-tape check written with the ledger: check -> (checked, mismatches)."""

    @property
    def silent(self) -> list[tuple[str, str]]:
        """Registered (TR, key) pairs that never produced a frame."""
        return sorted(self.registered - set(self.frames))


def build_report(root: Path, day: dt.date) -> DayReport:
    report = DayReport(day)
    ledger = build_ledger(root, day)
    report.ledger = ledger
    report.damage = ledger.damage
    for (tr_cd, tr_key), c in ledger.coverage.items():
        key = (tr_cd, tr_key)
        if c.frames:
            report.frames[key] = c.frames
            assert c.first_ns is not None and c.last_ns is not None
            report.first_ns[key] = c.first_ns
            report.last_ns[key] = c.last_ns
        if c.subscriptions:
            report.registered.add(key)
        if c.refusals:
            report.refused[(tr_cd, tr_key, c.refused_code)] += c.refusals
        if c.unanswered:
            report.unanswered.add(key)
    by_outage: dict[tuple[str, int], Outage] = {}
    for g in ledger.gaps:
        if g.kind != "outage":
            continue
        o = by_outage.get((g.conn_id, g.start_ns))
        if o is None:
            o = by_outage[(g.conn_id, g.start_ns)] = Outage(g.conn_id, g.start_ns, g.end_ns, g.cause, 0)
        o.registrations += len(g.symbols)
    for d in ledger.dark:
        o = by_outage.get((d.conn_id, d.start_ns))
        if o is None:
            continue
        if d.dark_ns is None:
            o.not_back += 1
        else:
            o.dark_s.append(d.dark_ns / 1e9)
    report.outages = sorted(by_outage.values(), key=lambda o: o.start_ns)
    _stored(root, day, report)
    return report


def _stored(root: Path, day: dt.date, report: DayReport) -> None:
    base = root / "parquet" / f"date={day.isoformat()}"
    for market_dir in sorted(base.glob("market=*")) if base.is_dir() else []:
        for channel_dir in sorted(market_dir.glob("channel=*")):
            files = sorted(str(p) for p in channel_dir.glob("*.parquet"))
            if files:
                rows = ds.dataset(files, format="parquet").count_rows()
                report.parquet_rows[(market_dir.name[7:], channel_dir.name[8:])] += rows
    quarantine = root / "quarantine" / f"date={day.isoformat()}"
    for path in sorted(quarantine.glob("*.jsonl")) if quarantine.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                report.quarantine[str(json.loads(line)["reason"])] += 1
            except (ValueError, KeyError, TypeError):
                report.quarantine["unreadable line"] += 1
    rest = root / "backfill" / f"date={day.isoformat()}"
    files = (
        sorted(str(p) for p in rest.glob("market=*/channel=*/source=rest/*.parquet")) if rest.is_dir() else []
    )
    if files:
        report.backfill_rows = ds.dataset(files, format="parquet").count_rows()
    tape = root / "ledger" / f"date={day.isoformat()}" / "tape.parquet"
    if tape.is_file():
        for row in pq.read_table(tape).to_pylist():
            checked, bad = report.tape.get(row["check"], (0, 0))
            report.tape[row["check"]] = (checked + row["checked"], bad + row["mismatches"])


def _t(ns: int | None) -> str:
    return "still down" if ns is None else to_seoul(ns).strftime("%H:%M:%S")


def _volume_gaps(report: DayReport, limit: int) -> list[str]:
    gaps = [g for g in report.ledger.gaps if g.kind == "volume"] if report.ledger else []
    missing = sum(g.missing or 0 for g in gaps)
    filled = sum(g.filled or 0 for g in gaps)
    status = Counter(g.status for g in gaps)
    out = [
        f"gaps (prints missing from trade feeds, by cumulative volume): {len(gaps)},"
        f" {missing:,} volume missing, {filled:,} backfilled"
        + (f" ({', '.join(f'{n} {s}' for s, n in sorted(status.items()))})" if gaps else "")
    ]
    for g in gaps[:limit]:
        fill = "" if g.filled is None else f", {g.filled:,} backfilled by {g.rest_tr}"
        out.append(
            f"  {g.tr_cd} {g.symbols[0]} {_t(g.start_ns)} -> {_t(g.end_ns)}: {g.missing:,} missing{fill};"
            f" {g.status}" + (f" ({g.detail})" if g.detail else "")
        )
    if len(gaps) > limit:
        out.append(f"  … and {len(gaps) - limit} more")
    out.append(f"backfill: {report.backfill_rows:,} row(s) from REST under backfill/date={report.day}/")
    return out


def render(report: DayReport, *, limit: int = 20) -> str:
    """The report as text; lists are cut at ``limit`` entries with a count of the rest."""
    out = [f"gatherer report for trading day {report.day} (times Asia/Seoul)", ""]
    frames = sum(report.frames.values())
    out.append(
        f"coverage: {len(report.registered):,} registrations sent,"
        f" {len(report.frames):,} (TR, key) with data, {frames:,} data frames"
    )
    by_tr = Counter[str]()
    for (tr_cd, _key), n in report.frames.items():
        by_tr[tr_cd] += n
    for tr_cd, n in sorted(by_tr.items()):
        keys = sum(1 for (t, _k) in report.frames if t == tr_cd)
        out.append(f"  {tr_cd:<4} {n:>12,} frames from {keys:,} keys")
    out.append("")
    out.append(f"stored: {sum(report.parquet_rows.values()):,} Parquet rows")
    for (market, channel), n in sorted(report.parquet_rows.items()):
        out.append(f"  {market:<9} {channel:<7} {n:>12,}")
    quarantined = sum(report.quarantine.values())
    out.append(
        f"quarantined: {quarantined:,} frame(s)" + (f" ({dict(report.quarantine)})" if quarantined else "")
    )
    out.append("")
    missing = report.silent
    out.append(
        f"missing: {len(missing):,} registration(s) that never produced a frame"
        + (" (a symbol that did not trade, or a session that was closed, shows here too)" if missing else "")
    )
    out.extend(f"  {t} {k.strip()!r}" for t, k in missing[:limit])
    if len(missing) > limit:
        out.append(f"  … and {len(missing) - limit:,} more")
    out.append(f"refused: {sum(report.refused.values()):,}")
    out.extend(
        f"  {t} {k.strip()!r}: {code} x{n}" for (t, k, code), n in sorted(report.refused.items())[:limit]
    )
    out.append(f"never answered: {len(report.unanswered):,}")
    out.append(f"gaps (connections down): {len(report.outages)}")
    for o in report.outages[:limit]:
        seconds = "" if o.end_ns is None else f" ({(o.end_ns - o.start_ns) / 1e9:.1f} s)"
        out.append(
            f"  {o.conn_id}: {_t(o.start_ns)} -> {_t(o.end_ns)}{seconds}, {o.registrations} registrations"
            f" without data; cause: {o.cause}"
        )
        if o.dark_s or o.not_back:
            dark = sorted(o.dark_s)
            back = (
                f"streams dark {dark[(len(dark) - 1) // 2]:.1f} s (median) to {dark[-1]:.1f} s"
                " until re-acknowledged"
                if dark
                else "no stream re-acknowledged"
            )
            out.append(f"    {back}" + (f"; {o.not_back} not back" if o.not_back else ""))
    if len(report.outages) > limit:
        out.append(f"  … and {len(report.outages) - limit} more")
    out.extend(_volume_gaps(report, limit))
    if report.tape:
        out.append("consolidated tape (ledger tape.parquet): checked / mismatches")
        out.extend(f"  {check:<10} {n:>12,} {bad:>8,}" for check, (n, bad) in sorted(report.tape.items()))
    if report.damage:
        out.append(f"journal damage: {len(report.damage)} block(s); run `gatherer journal verify`")
    return "\n".join(out)
