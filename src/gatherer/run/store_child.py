"""The live decode-and-store process of one worker (``gatherer _store``), kept light.

``store_worker`` is what the process runs: from the worker's checkpoint, follow its journal
(``run.store.follow``) until the parent says the journal is closed, publishing a status file
between polls. It lives apart from ``run.pipeline`` on purpose: the pipeline module wires the
worker (aiohttp, picows, the planner) and the rebuild, and what a module imports stays resident
in every process that imports it. The store process imports only this module's chain (decode,
sinks, the ledger's volume chains, status files): about 40 MB less resident than through the
pipeline (bench/live_store --soak; tests/unit/test_store_child.py keeps it so). ``keep_pandas_out``
does the same for pandas, which pyarrow would import on the store's first ``pa.array``.
"""

from __future__ import annotations

import datetime as dt
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterator, Mapping, Sequence
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


class _PandasOnlyForCalendars(importlib.abc.MetaPathFinder):
    """Refuses ``import pandas`` unless exchange_calendars is being imported (see ``keep_pandas_out``)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] == "pandas" and "exchange_calendars" not in sys.modules:
            raise ImportError("pandas is not imported in the store process (run.store_child.keep_pandas_out)")
        return None  # the usual finders decide


def keep_pandas_out() -> None:
    """Keep pandas out of this process unless the trading calendar needs it.

    pyarrow looks for pandas on its first ``pa.array`` of a list (to recognise pandas objects) and
    imports it if installed: ~37 MB resident (28 MB of objects) that the store never uses. The one
    part of the store that does use pandas, exchange_calendars (the night session's trading dates,
    ``venues.ls.hours``), still imports it: the refusal stops once exchange_calendars is loading.
    pyarrow takes the refusal as "pandas is not installed". For the store process only (its entry
    point calls this first); a process that already imported pandas is left as it is.
    """
    if "pandas" not in sys.modules and not any(isinstance(f, _PandasOnlyForCalendars) for f in sys.meta_path):
        sys.meta_path.insert(0, _PandasOnlyForCalendars())
