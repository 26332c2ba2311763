"""``gatherer report --date D``: what a day captured and what, if anything, is missing, and why.

A first, text version, read from the day's files only (an observer: it changes nothing):
- the journal: per (TR, key) the frames received and the first/last receive time; what was
  registered (our own SENT records), refused or never answered; every connection's outages
  (from a `disconnected` event that we did not ask for to the next `connected`), with the
  registrations that were without data meanwhile;
- the Parquet partitions: rows per market and channel; the quarantine: frames per reason.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.dataset as ds

from gatherer.capture import Damage, Kind, iter_records
from gatherer.clock import to_seoul

_ACK = b'"rsp_cd"'


@dataclass
class Outage:
    conn_id: str
    start_ns: int
    end_ns: int | None
    cause: str
    registrations: int


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

    @property
    def silent(self) -> list[tuple[str, str]]:
        """Registered (TR, key) pairs that never produced a frame."""
        return sorted(self.registered - set(self.frames))


def _header(payload: bytes) -> tuple[str, str] | None:
    try:
        frame = json.loads(payload)
        header = frame["header"]
        return str(header["tr_cd"]), str(header["tr_key"])
    except (ValueError, KeyError, TypeError):
        return None


def build_report(root: Path, day: dt.date) -> DayReport:
    report = DayReport(day)
    journal = root / "journal" / f"date={day.isoformat()}"
    conn_regs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    down: dict[str, Outage] = {}
    if journal.is_dir():
        for rec in iter_records(journal, on_damage=report.damage.append):
            if rec.kind == Kind.FRAME:
                if _ACK in rec.payload:
                    continue
                key = _header(rec.payload)
                if key is None:
                    continue
                report.frames[key] += 1
                report.first_ns.setdefault(key, rec.recv_ns)
                report.last_ns[key] = rec.recv_ns
            elif rec.kind == Kind.SENT:
                sent = json.loads(rec.payload)
                if sent.get("header", {}).get("tr_type") == "3":
                    pair = (sent["body"]["tr_cd"], sent["body"]["tr_key"])
                    report.registered.add(pair)
                    conn_regs[rec.conn_id].add(pair)
            else:
                _event(report, rec.conn_id, rec.recv_ns, json.loads(rec.payload), conn_regs, down)
    report.outages.extend(down.values())  # still down when the day's journal ends
    report.outages.sort(key=lambda o: o.start_ns)
    _stored(root, day, report)
    return report


def _event(
    report: DayReport,
    conn_id: str,
    recv_ns: int,
    event: dict[str, object],
    conn_regs: dict[str, set[tuple[str, str]]],
    down: dict[str, Outage],
) -> None:
    name = event.get("event")
    if name == "disconnected" and event.get("reason") != "closed by us":
        down[conn_id] = Outage(conn_id, recv_ns, None, str(event.get("reason", "")), len(conn_regs[conn_id]))
    elif name == "connected" and conn_id in down:
        outage = down.pop(conn_id)
        outage.end_ns = recv_ns
        report.outages.append(outage)
    elif name == "refused":
        report.refused[(str(event.get("tr_cd")), str(event.get("tr_key")), str(event.get("rsp_cd")))] += 1
    elif name == "unacknowledged":
        report.unanswered.add((str(event.get("tr_cd")), str(event.get("tr_key"))))


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


def _t(ns: int | None) -> str:
    return "still down" if ns is None else to_seoul(ns).strftime("%H:%M:%S")


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
    if len(report.outages) > limit:
        out.append(f"  … and {len(report.outages) - limit} more")
    if report.damage:
        out.append(f"journal damage: {len(report.damage)} block(s); run `gatherer journal verify`")
    return "\n".join(out)
