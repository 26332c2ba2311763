"""One day's ledger of several collectors (sides): a sink's root holding their journal replicas.

A sink (``gatherer sink``) keeps every collector's journals (``capture.replica``); its ledger covers
them all. Shards record different streams, so their ledgers simply add up. A/B collectors record the
same streams, and a stream is dark for the day's data only when every side recording it was dark:

- ``dark.parquet``: a side's dark stretch of a stream (from its disconnect to its re-acknowledgement,
  or to the day's end when it never came back) is kept unless another side covered all of it: that
  side had the stream acknowledged before the stretch began, had no dark stretch of its own
  overlapping it, and delivered a frame of it at or after the stretch's end (for a stretch that
  never ended: after its start). A stretch another side covered in part is kept whole, with the
  times its own side saw;
- ``gaps.parquet``: an outage row keeps the symbols whose dark stretch was kept (and goes when none
  is left); its connection (``<collector>.<conn_id>``) names the side. Volume gaps stay per side, as
  the stores found them;
- ``coverage.parquet``: one row per (TR, key) over all sides: the earliest subscription,
  acknowledgement and frame, the latest frame, and the sums of subscriptions, refusals, unanswered
  registrations and frames (each side's copy of a frame counted: the stored rows are in Parquet and
  which side each stretch came from in ``sides-<durable>.jsonl``); ``drops`` counts the dark
  stretches kept.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from gatherer.ledger.scan import Coverage, Dark, Ledger


def _end(d: Dark) -> int | None:
    return d.acked_ns


def _overlaps(a: Dark, b: Dark) -> bool:
    a_end, b_end = _end(a), _end(b)
    return (a_end is None or b.start_ns <= a_end) and (b_end is None or a.start_ns <= b_end)


def covered(d: Dark, other: Ledger) -> bool:
    """Whether ``other`` (another side's ledger) streamed ``d``'s (TR, key) through all of ``d``."""
    entry = other.coverage.get((d.tr_cd, d.tr_key))
    if entry is None or entry.acked_ns is None or entry.last_ns is None or entry.acked_ns > d.start_ns:
        return False
    end = _end(d)
    if entry.last_ns < (d.start_ns if end is None else end):
        return False
    return not any(o.tr_cd == d.tr_cd and o.tr_key == d.tr_key and _overlaps(d, o) for o in other.dark)


def _merge(entries: list[Coverage]) -> Coverage:
    first = entries[0]
    out = Coverage(first.tr_cd, first.tr_key)

    def least(values: list[int | None]) -> int | None:
        return min((v for v in values if v is not None), default=None)

    out.subscribed_ns = least([e.subscribed_ns for e in entries])
    out.acked_ns = least([e.acked_ns for e in entries])
    out.first_ns = least([e.first_ns for e in entries])
    out.last_ns = max((e.last_ns for e in entries if e.last_ns is not None), default=None)
    out.subscriptions = sum(e.subscriptions for e in entries)
    out.refusals = sum(e.refusals for e in entries)
    out.refused_code = next((e.refused_code for e in entries if e.refused_code), "")
    out.unanswered = sum(e.unanswered for e in entries)
    out.frames = sum(e.frames for e in entries)
    return out


def combine(day: dt.date, sides: dict[str, Ledger]) -> Ledger:
    """One ledger of the sides' ledgers of ``day`` (their outage gaps and dark time, not volume gaps)."""
    out = Ledger(day)
    by_key: dict[tuple[str, str], list[Coverage]] = {}
    for side in sorted(sides):
        ledger = sides[side]
        out.damage += ledger.damage
        out.stock_markets.update(ledger.stock_markets)
        for key, entry in ledger.coverage.items():
            by_key.setdefault(key, []).append(entry)
        others = [sides[s] for s in sorted(sides) if s != side]
        out.dark += [d for d in ledger.dark if not any(covered(d, o) for o in others)]
    drops = Counter((d.tr_cd, d.tr_key) for d in out.dark)
    for key, entries in sorted(by_key.items()):
        merged = out.coverage[key] = _merge(entries)
        merged.drops = drops[key]
    kept: dict[str, set[str]] = {}
    for d in out.dark:
        kept.setdefault(d.gap_id, set()).add(d.tr_key.strip())
    for side in sorted(sides):
        for gap in sides[side].gaps:
            if gap.kind != "outage" or not gap.symbols:
                out.gaps.append(gap)
            elif gap.id in kept:
                gap.symbols = [s for s in gap.symbols if s in kept[gap.id]]
                out.gaps.append(gap)
    return out


__all__ = ["combine", "covered"]
