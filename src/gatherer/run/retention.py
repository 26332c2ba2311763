"""Journal retention: remove old journal days, but only once their Parquet is verified.

The journal is the source of truth. A day may go only when every data frame of it is
accounted for in the derived files: for each worker, the set of journal sequence numbers
of the day's data frames equals the sequence numbers found in that worker's Parquet rows
(the day itself and its neighbours, since a per-market cutoff can move rows by a day, and the
trading date of the night session that starts on its evening) plus its quarantine lines.
Anything less keeps the day, and says so.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from pathlib import Path

import pyarrow.dataset as ds

from gatherer.capture import Kind, PruneReport, iter_records, prune_journal
from gatherer.clock import Clock, trading_day_of
from gatherer.venues.ls.night import night_date

log = logging.getLogger(__name__)
_ACK = b'"rsp_cd"'


def journal_frame_seqs(root: Path, day: dt.date) -> dict[str, set[int]]:
    """worker -> seqs of the day's data frames (acks and our own records excluded)."""
    out: dict[str, set[int]] = defaultdict(set)
    day_dir = root / "journal" / f"date={day.isoformat()}"
    for segment in sorted(day_dir.glob("*.journal")):
        worker = segment.name.rsplit("-", 1)[0]
        for rec in iter_records(segment):
            if rec.kind == Kind.FRAME and _ACK not in rec.payload:
                out[worker].add(rec.seq)
    return out


def stored_seqs(root: Path, day: dt.date, worker: str, low: int, high: int) -> set[int]:
    """Seqs in [low, high] that the worker's Parquet rows and quarantine lines hold, near ``day``."""
    found: set[int] = set()
    for d in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)):
        files = sorted(
            (root / "parquet" / f"date={d.isoformat()}").glob(f"market=*/channel=*/{worker}-*.parquet")
        )
        if files:
            column = (
                ds.dataset([str(f) for f in files], format="parquet").to_table(columns=["seq"]).column("seq")
            )
            found.update(s for s in column.to_pylist() if low <= s <= high)
        quarantine = root / "quarantine" / f"date={d.isoformat()}" / f"{worker}.jsonl"
        if quarantine.exists():
            for line in quarantine.read_text(encoding="utf-8").splitlines():
                try:
                    seq = int(json.loads(line)["seq"])
                except (ValueError, KeyError, TypeError):
                    continue
                if low <= seq <= high:
                    found.add(seq)
    return found


def day_verified(root: Path, day: dt.date) -> bool:
    """True when every data frame of the journal day is in Parquet or quarantine (the rows of the
    night session starting that evening are on its trading date, looked at when frames are missing
    from the days around)."""
    for worker, seqs in journal_frame_seqs(root, day).items():
        missing = seqs - stored_seqs(root, day, worker, min(seqs), max(seqs))
        night = night_date(day) if missing else day
        if missing and night > day + dt.timedelta(days=1):
            missing -= stored_seqs(root, night - dt.timedelta(days=1), worker, min(seqs), max(seqs))
        if missing:
            log.warning(
                "journal day %s kept: %d frame(s) of %s are not in Parquet or quarantine;"
                " run `gatherer rebuild --date %s`",
                day, len(missing), worker, day,
            )  # fmt: skip
            return False
    return True


def day_published(root: Path, day: dt.date) -> bool:
    """True when every data frame of the journal day is on the bus (at or before each worker's
    publisher checkpoint, ``run.publish``)."""
    from gatherer.run.publish import read_checkpoint

    for worker, seqs in journal_frame_seqs(root, day).items():
        if seqs and max(seqs) > read_checkpoint(root, worker):
            log.warning(
                "journal day %s kept: %s's publisher has not sent it all to the bus yet (up to seq %d of %d)",
                day, worker, read_checkpoint(root, worker), max(seqs),
            )  # fmt: skip
            return False
    return True


def apply_retention(root: Path, keep_days: int, clock: Clock, *, bus: bool = False) -> PruneReport:
    """With ``bus`` (a ``[bus]`` table), a day must also be published before it is removed."""
    return prune_journal(
        root,
        keep_days,
        lambda d: day_verified(root, d) and (not bus or day_published(root, d)),
        today=trading_day_of(clock.time_ns()),
    )
