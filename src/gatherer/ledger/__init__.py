"""ledger: knowing what is missing — volume-chain gaps, REST backfill, and the day's coverage ledger.

- ``chain``: ``VolumeChains`` follows each trade feed's cumulative volume in the store and turns a
  hole into a ``VolumeGap`` (LS_OPENAPI.md §8.5);
- ``gapfile``: the gap and backfill-result files of a day (``gaps/date=D/``);
- ``backfill``: ``Backfiller`` fetches the missing prints over REST (t1301 / t8454 / t2212 /
  o3116 / o3136), proves the chain, and writes ``backfill/date=D/…/source=rest/``;
- ``day``: ``build_ledger`` / ``write_ledger``: coverage per (TR, key), every gap and each stream's dark time
  per outage, as Parquet under ``ledger/date=D/``.

Formats: docs/formats.md, "Gaps, backfill and the ledger".
"""

from gatherer.ledger.backfill import BACKFILL_TRS, Backfiller, BackfillResult, PassStats
from gatherer.ledger.chain import CHAIN_FIELDS, VolumeChains, VolumeGap
from gatherer.ledger.day import Coverage, Dark, Gap, Ledger, build_ledger, write_ledger
from gatherer.ledger.gapfile import read_backfill, read_gaps

__all__ = [
    "BACKFILL_TRS",
    "CHAIN_FIELDS",
    "BackfillResult",
    "Backfiller",
    "Coverage",
    "Dark",
    "Gap",
    "Ledger",
    "PassStats",
    "VolumeChains",
    "VolumeGap",
    "build_ledger",
    "read_backfill",
    "read_gaps",
    "write_ledger",
]
