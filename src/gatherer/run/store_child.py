"""The live decode-and-store process of one worker (``gatherer _store``), kept light.

``store_worker`` is what the process runs: from the worker's checkpoint, follow its journal
(``run.store.follow``) until the parent says the journal is closed, publishing a status file
between polls. It lives apart from ``run.pipeline`` on purpose: the pipeline module wires the
worker (aiohttp, picows, the planner) and the rebuild, and what a module imports stays resident
in every process that imports it. The store process imports only this module's chain (decode,
sinks, the ledger's volume chains, status files): about 40 MB less resident than through the
pipeline (bench/live_store --soak; tests/unit/test_store_child.py keeps it so).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path

from gatherer.run.status_files import publishing
from gatherer.run.store import JournalTail, Store, StoreStats, exclusive, follow


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
        polls = publishing(stop_requested, root, store, tail)
        try:
            follow(tail, store, stop_requested=polls, checkpoint_every_s=checkpoint_every_s)
        finally:
            polls.close()  # its last status file: the drained figures
    return store.stats
