"""What a run captured, read back from its journal: frames per market and channel.

An observer: it reads journal files and never feeds anything back.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gatherer.capture import Damage, Kind, events, iter_records
from gatherer.clock import trading_day_of
from gatherer.venues.ls.catalog import CATALOG, LEGACY, MARKET_CHANNELS
from gatherer.venues.ls.envelope import maybe_ack, tr_cd_of


def _channel_of_tr() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for market, channels in MARKET_CHANNELS.items():
        for channel, tr_cd in channels.items():
            out[tr_cd] = (market, channel)
            if tr_cd in LEGACY:
                out[LEGACY[tr_cd]] = (market, channel)
    for tr_cd, spec in CATALOG.items():
        out.setdefault(tr_cd, ("/".join(spec.markets) or "all", spec.channel))
    return out


@dataclass
class CaptureSummary:
    frames: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(market, channel) -> data frames."""
    frame_bytes: Counter[tuple[str, str]] = field(default_factory=Counter)
    acks: int = 0
    unknown: int = 0
    """Frames whose TR could not be read (malformed or not LS JSON): kept in the journal all the same."""
    sent: int = 0
    events: Counter[str] = field(default_factory=Counter)
    damage: list[Damage] = field(default_factory=list)

    @property
    def frames_total(self) -> int:
        return sum(self.frames.values())


def summarize(paths: Iterable[Path], *, first_seqs: Mapping[str, int] | None = None) -> CaptureSummary:
    """Count the records of the given journal directories/segments.

    ``first_seqs`` maps a worker id to the first sequence number to count (one run's records);
    workers not in it are counted from 0.
    """
    first_seqs = first_seqs or {}
    where = _channel_of_tr()
    out = CaptureSummary()
    for path in paths:
        for rec in iter_records(path, on_damage=out.damage.append):
            if rec.seq < first_seqs.get(rec.conn_id.split("-", 1)[0], 0):
                continue
            if rec.kind == Kind.SENT:
                out.sent += 1
            elif rec.kind == Kind.EVENT:
                out.events[events.name(rec.payload)] += 1
            elif maybe_ack(rec.payload) is not None:
                out.acks += 1
            else:
                tr_cd = tr_cd_of(rec.payload)
                key = where.get(tr_cd) if tr_cd else None
                if key is None:
                    out.unknown += 1
                    continue
                out.frames[key] += 1
                out.frame_bytes[key] += len(rec.payload)
    return out


def journal_dirs(root: Path, started_ns: int, ended_ns: int) -> list[Path]:
    """The journal day directories a run between the two times may have written to."""
    first, last = trading_day_of(started_ns), trading_day_of(ended_ns)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [p for p in (root / "journal" / f"date={d.isoformat()}" for d in days) if p.exists()]
