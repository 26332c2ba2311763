"""The store side of the pipeline, wired in one place: journal -> decoder -> sinks -> checkpoint.

One worker's journal is turned into Parquet by one ``Store`` (``run.store``: the decoder, the
volume chains, the Parquet sink and the quarantine, with checkpoints) fed by one ``JournalTail``
(whole blocks, in seq order) through ``follow``. Every way of writing Parquet goes through here:

- ``store_worker``: the live decode-and-store process of one worker (``gatherer _store``, started
  by ``gatherer run``): it resumes after the worker's checkpoint and follows the journal as it
  grows until its parent says the journal is closed, then drains it;
- ``rebuild_day``: ``gatherer rebuild``: the same store, run over each worker's finished journal
  of one day into a staging root, then swapped in for the day's Parquet and quarantine. So a
  rebuild is the live store over a finished journal, and the two cannot drift apart.

The receive side (socket -> stamp -> journal) is ``run.worker``; the journal between the two is
the only queue, on disk.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gatherer.capture import Damage, list_segments
from gatherer.errors import GathererError
from gatherer.files import swap_in_dir
from gatherer.run.store import JournalTail, Store, StoreStats, exclusive, follow
from gatherer.sinks import file_metadata


def store_worker(
    root: Path,
    worker_id: str,
    *,
    version: str,
    venue: str,
    cutoffs: Mapping[str, dt.time] | None,
    stop_requested: Iterator[bool],
    checkpoint_every_s: float = 300.0,
) -> StoreStats:
    """The live store of one worker: from its checkpoint, following its journal until
    ``stop_requested`` yields True and what is on disk is drained (``run.store.follow``)."""
    with exclusive(root, worker_id):
        store, first = Store.resume(root, worker_id, version=version, venue=venue, cutoffs=cutoffs)
        tail = JournalTail(root, worker_id, start_seq=first)
        follow(tail, store, stop_requested=stop_requested, checkpoint_every_s=checkpoint_every_s)
    return store.stats


@dataclass(frozen=True, slots=True)
class RebuildReport:
    day: dt.date
    workers: tuple[str, ...]
    files: int
    rows: int
    quarantined: int
    rows_outside_day: int
    """Rows the decoder placed on another trading day (a per-market cutoff); not written here."""
    damage: tuple[Damage, ...]


class RebuildError(GathererError):
    """A day cannot be rebuilt (no journal for it)."""


def _journal_workers(journal_day: Path) -> dict[str, list[Path]]:
    workers: dict[str, list[Path]] = {}
    for seg in list_segments(journal_day):
        workers.setdefault(seg.name.rsplit("-", 1)[0], []).append(seg)
    return workers


def rebuild_day(
    root: Path | str,
    day: dt.date,
    *,
    version: str,
    cutoffs: Mapping[str, dt.time] | None,
    venue: str = "rebuild",
) -> RebuildReport:
    """Re-derive ``parquet/date=DAY`` and ``quarantine/date=DAY`` from ``journal/date=DAY``.

    Each worker's segments of the day go through the live store (``Store`` and ``follow``) under
    that worker's id, into a staging root beside the data; the staged day then replaces the live
    one in one rename (``files.swap_in_dir``). Rows the per-market cutoffs put on another day are
    counted, not written. The day must not be one a worker is still writing.
    """
    root = Path(root)
    journal_day = root / "journal" / f"date={day.isoformat()}"
    workers = _journal_workers(journal_day) if journal_day.is_dir() else {}
    if not workers:
        raise RebuildError(f"no journal segments under {journal_day}; nothing to rebuild {day} from")
    (root / ".rebuild").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"date={day.isoformat()}-", dir=root / ".rebuild"))
    damage: list[Damage] = []
    files = rows = quarantined = 0
    try:
        for worker, segments in sorted(workers.items()):
            store = Store(staging, worker, version=version, venue=venue, cutoffs=cutoffs)
            tail = JournalTail(staging, worker, finished=segments)
            follow(tail, store, stop_requested=itertools.repeat(True))
            damage.extend(tail.damage)
            mine = [w for w in store.written if w.trading_day == day]
            files += len(mine)
            rows += sum(w.rows for w in mine)
            quarantined += store.stats.quarantined
        outside = sum(
            int(file_metadata(p)["rows"])
            for p in (staging / "parquet").glob("date=*/*/*/*.parquet")
            if p.parts[-4] != f"date={day.isoformat()}"
        )
        for kind in ("parquet", "quarantine"):
            swap_in_dir(staging / kind / f"date={day.isoformat()}", root / kind / f"date={day.isoformat()}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RebuildReport(day, tuple(sorted(workers)), files, rows, quarantined, outside, tuple(damage))


__all__ = ["RebuildError", "RebuildReport", "rebuild_day", "store_worker"]
