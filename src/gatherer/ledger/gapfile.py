"""Where gaps and their backfill results are kept while the day runs.

- ``gaps/date=D/<worker>.jsonl``: one line per ``VolumeGap`` the worker's store found, appended and
  fsync'd at each store write. Like the quarantine, lines after the store's checkpoint are removed
  on a restart and found again from the journal, so each gap is there once.
- ``gaps/date=D/backfill.jsonl``: one line per backfill attempt result (``BackfillResult``), written
  by the backfiller; the newest line of a gap id is its state.

The day's ledger (``ledger/date=D/gaps.parquet``) is built from these and from the journal.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gatherer.files import append_jsonl, rewrite_jsonl
from gatherer.ledger.chain import VolumeGap

BACKFILL_FILE = "backfill.jsonl"


def gaps_dir(root: Path, day: dt.date) -> Path:
    return root / "gaps" / f"date={day.isoformat()}"


def write_gaps(root: Path, worker_id: str, gaps: Iterable[VolumeGap]) -> int:
    """Append gaps to their days' files; returns how many."""
    by_day: dict[str, list[str]] = {}
    for gap in gaps:
        by_day.setdefault(gap.trading_day, []).append(json.dumps(gap.to_json()) + "\n")
    n = 0
    for day, lines in sorted(by_day.items()):
        n += append_jsonl(gaps_dir(root, dt.date.fromisoformat(day)) / f"{worker_id}.jsonl", lines)
    return n


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a crash
        if isinstance(data, dict):
            yield data


def read_gaps(root: Path, day: dt.date) -> list[VolumeGap]:
    """Every volume gap of a day, all workers, oldest first."""
    base = gaps_dir(root, day)
    out: list[VolumeGap] = []
    for path in sorted(base.glob("*.jsonl")) if base.is_dir() else []:
        if path.name == BACKFILL_FILE:
            continue
        for data in _lines(path):
            try:
                out.append(VolumeGap.from_json(data))
            except (KeyError, TypeError):
                continue
    out.sort(key=lambda g: (g.end_ns, g.id))
    return out


def read_backfill(root: Path, day: dt.date) -> dict[str, dict[str, Any]]:
    """Gap id -> its newest backfill result line."""
    path = gaps_dir(root, day) / BACKFILL_FILE
    out: dict[str, dict[str, Any]] = {}
    if path.exists():
        for data in _lines(path):
            if "id" in data:
                out[str(data["id"])] = data
    return out


def write_backfill(root: Path, day: dt.date, result: dict[str, Any]) -> None:
    append_jsonl(gaps_dir(root, day) / BACKFILL_FILE, [json.dumps(result, ensure_ascii=False) + "\n"])


def discard_gaps_after(root: Path, worker_id: str, seq: int) -> int:
    """Remove this worker's gap lines found after journal ``seq`` (a store restart finds them again)."""
    return sum(
        rewrite_jsonl(path, lambda gap: int(gap["seq_after"]) <= seq)
        for path in (root / "gaps").glob(f"date=*/{worker_id}.jsonl")
    )


__all__ = [
    "BACKFILL_FILE",
    "discard_gaps_after",
    "gaps_dir",
    "read_backfill",
    "read_gaps",
    "write_backfill",
    "write_gaps",
]
