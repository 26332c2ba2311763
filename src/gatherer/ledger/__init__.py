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

from typing import Any

from gatherer.ledger.chain import CHAIN_FIELDS, VolumeChains, VolumeGap
from gatherer.ledger.day import Coverage, Dark, Gap, Ledger, build_ledger, write_ledger
from gatherer.ledger.gapfile import read_backfill, read_gaps

_BACKFILL = ("BACKFILL_TRS", "Backfiller", "BackfillResult", "PassStats")
"""From ``backfill``, imported on first use: it needs the REST client (aiohttp), which the store
process, which finds gaps but never fills them, does not."""


def __getattr__(name: str) -> Any:
    if name in _BACKFILL:
        from gatherer.ledger import backfill

        return getattr(backfill, name)
    raise AttributeError(f"module 'gatherer.ledger' has no attribute {name!r}")


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
