"""The day's ledger: what was subscribed and received per (TR, symbol), and every gap, as data.

``write_ledger`` builds it from the day's files only (``scan.build_ledger``: the journal, the
volume gaps the stores found and the backfill results), so it can be built again at any time and
always says the same, and (re)writes its files from the tables of ``tables.py``. Written by the
supervisor when a day ends (at the cutoff, and when the run stops) and by
``gatherer ledger --date D``:

- ``ledger/date=D/coverage.parquet``: one row per (TR, key): when it was first subscribed, how
  often (re)subscribed, first acknowledgement, refusals and the last refusal code, drops (outages
  of the connections that held it), first and last frame, frames;
- ``ledger/date=D/gaps.parquet``: one row per gap: ``outage`` rows (a connection down that we did
  not close: market, channel, TR, the symbols it held, start, end, cause) and ``volume`` rows
  (prints missing from a trade feed, with the missing quantity and the backfill status);
- ``ledger/date=D/dark.parquet``: one row per outage and (TR, key) it held: how long that stream
  was dark, from the disconnect to its re-acknowledgement on the reconnected connection (the moment
  the venue streams it again, whether or not the symbol trades then), with its first frame after
  that and the frames it had delivered that day before the drop (the worker registers the busiest
  first, so they should come back first);
- ``ledger/date=D/tape.parquet``: the consolidated-tape check (``tape.py``): US3 prints matched to
  the venues' own prints and UH1's per-level KRX + NXT sums, mismatches counted per symbol.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from gatherer.files import write_parquet_atomic
from gatherer.ledger.scan import Coverage, Dark, Gap, Ledger, build_ledger
from gatherer.ledger.tables import (
    COVERAGE_SCHEMA,
    DARK_SCHEMA,
    GAPS_SCHEMA,
    coverage_table,
    dark_table,
    gaps_table,
)
from gatherer.ledger.tape import TapeError, write_tape

log = logging.getLogger(__name__)


def ledger_dir(root: Path, day: dt.date) -> Path:
    """Where the ledger files of ``day`` are written."""
    return root / "ledger" / f"date={day.isoformat()}"


def write_ledger(root: Path, day: dt.date) -> Ledger:
    """Build the day's ledger and (re)write its three files; returns it."""
    ledger = build_ledger(root, day)
    base = ledger_dir(root, day)
    write_parquet_atomic(coverage_table(ledger), base / "coverage.parquet")
    write_parquet_atomic(gaps_table(ledger), base / "gaps.parquet")
    write_parquet_atomic(dark_table(ledger), base / "dark.parquet")
    try:
        write_tape(root, day, base, ledger)
    except TapeError as exc:
        # The coverage, gaps and dark time are written; the check alone is missing, and says why.
        log.error("%s; `gatherer ledger --date %s` builds it again", exc, day)
    return ledger


__all__ = [
    "COVERAGE_SCHEMA",
    "DARK_SCHEMA",
    "GAPS_SCHEMA",
    "Coverage",
    "Dark",
    "Gap",
    "Ledger",
    "build_ledger",
    "coverage_table",
    "dark_table",
    "gaps_table",
    "ledger_dir",
    "write_ledger",
]
