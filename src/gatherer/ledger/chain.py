"""The cumulative-volume chain: trades that were printed but never reached us.

Every trade feed carries the instrument's cumulative volume with each print (``volume`` on
S3_/K3_/NS3/US3/FC0/FC9/OC0/DC0, ``totq`` on OVC/WOC) beside the print's own size (``cvolume`` /
``trdq``). Along one (TR, symbol) stream, ``volume[i] = volume[i-1] + cvolume[i]``; a print whose
volume is larger than that says prints are missing, and by how much (LS_OPENAPI.md §8.5):
``missing = V_b - c_b - V_a`` with ``V_a`` the last volume before the hole and ``V_b``, ``c_b``
the first print after it. A drop in volume is a new session (the counter starts again), not a hole.

``VolumeChains`` follows every stream of one worker in journal order (the decoder's batches keep
it) and turns each hole into a ``VolumeGap``. Its state is small (one entry per stream) and is
saved with the store's checkpoint, so a restarted store continues the chains where they were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from gatherer.decode import Batch

CHAIN_FIELDS: Mapping[str, tuple[str, str, str]] = {
    "S3_": ("volume", "cvolume", "chetime"),
    "K3_": ("volume", "cvolume", "chetime"),
    "NS3": ("volume", "cvolume", "chetime"),
    "US3": ("volume", "cvolume", "chetime"),
    "FC0": ("volume", "cvolume", "chetime"),
    "FC9": ("volume", "cvolume", "chetime"),
    "OC0": ("volume", "cvolume", "chetime"),
    "DC0": ("volume", "cvolume", "chetime"),  # the night session (no REST backfill here: not_fillable)
    "OVC": ("totq", "trdq", "trdtm"),
    "WOC": ("totq", "trdq", "trdtm"),
}
"""Trade TR -> (cumulative volume field, print size field, exchange time field)."""


@dataclass(frozen=True, slots=True)
class VolumeGap:
    """Prints missing from one (TR, symbol) stream between two frames we have.

    ``id`` is ``<worker>-<seq>`` of the frame that showed the hole: the same journal always gives
    the same ids, so a re-run (restart, rebuild) finds the same gaps and never a second copy.
    """

    id: str
    trading_day: str
    market: str
    tr_cd: str
    symbol: str
    start_ns: int
    """Receive time of the last frame before the hole (V_a's frame)."""
    end_ns: int
    """Receive time of the first frame after it (V_b's frame)."""
    start_time: str
    """Exchange time field of V_a's frame as sent (HHMMSS; overseas: exchange-local)."""
    end_time: str
    volume_before: int
    """V_a."""
    volume_after: int
    """V_b."""
    size_after: int
    """c_b, the size of V_b's own print."""
    missing: int
    """V_b - c_b - V_a: the volume of the prints we did not receive."""
    seq_before: int
    seq_after: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": "volume", **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VolumeGap:
        return cls(**{k: data[k] for k in cls.__slots__})


@dataclass(slots=True)
class _Link:
    volume: int
    seq: int
    recv_ns: int
    time: str


@dataclass
class ChainStats:
    prints: int = 0
    gaps: int = 0
    missing: int = 0
    resets: int = 0
    """Volume went down: a new session started the counter again."""
    overlaps: int = 0
    """A print whose volume does not reach past the last one's (a repeat)."""
    unreadable: int = 0
    """Prints without a volume or size (blank fields): they cannot be chained and are skipped."""


class VolumeChains:
    """Follows the cumulative volume of every (TR, symbol) of one worker; see the module doc."""

    def __init__(self, worker_id: str, state: Mapping[str, list[Any]] | None = None) -> None:
        self._worker_id = worker_id
        self._links: dict[tuple[str, str], _Link] = {}
        for key, (volume, seq, recv_ns, time) in (state or {}).items():
            tr_cd, _, symbol = key.partition("|")
            self._links[(tr_cd, symbol)] = _Link(int(volume), int(seq), int(recv_ns), str(time))
        self.stats = ChainStats()

    def state(self) -> dict[str, list[Any]]:
        """What ``__init__(state=...)`` takes back: JSON-ready, one entry per stream."""
        return {f"{t}|{s}": [ln.volume, ln.seq, ln.recv_ns, ln.time] for (t, s), ln in self._links.items()}

    def feed(self, batch: Batch) -> list[VolumeGap]:
        """Follow one decoded batch (rows in journal order); the holes it shows."""
        fields = CHAIN_FIELDS.get(batch.tr_cd)
        if fields is None:
            return []
        table: pa.Table = batch.table
        volume_name, size_name, time_name = fields
        cols = [table.column(n).to_pylist() for n in ("symbol", "seq", "recv_ns", "trading_day")]
        volumes = table.column(volume_name).to_pylist()
        sizes = table.column(size_name).to_pylist()
        times = table.column(time_name).to_pylist()
        gaps: list[VolumeGap] = []
        links = self._links
        stats = self.stats
        tr_cd = batch.tr_cd
        for symbol, seq, recv_ns, day, volume, size, time in zip(*cols, volumes, sizes, times, strict=True):
            if volume is None or size is None:
                stats.unreadable += 1
                continue
            stats.prints += 1
            key = (tr_cd, symbol)
            link = links.get(key)
            if link is None:
                links[key] = _Link(volume, seq, recv_ns, time or "")
                continue
            expected = link.volume + size
            if volume > expected:
                gap = self._gap(batch, symbol, day, link, seq, recv_ns, time or "", volume, size)
                gaps.append(gap)
                stats.gaps += 1
                stats.missing += gap.missing
            elif volume < link.volume:
                stats.resets += 1
            elif volume < expected:
                stats.overlaps += 1
            link.volume, link.seq, link.recv_ns, link.time = volume, seq, recv_ns, time or ""
        return gaps

    def _gap(
        self,
        batch: Batch,
        symbol: str,
        day: dt.date,
        link: _Link,
        seq: int,
        recv_ns: int,
        time: str,
        volume: int,
        size: int,
    ) -> VolumeGap:
        return VolumeGap(
            id=f"{self._worker_id}-{seq}",
            trading_day=day.isoformat(),
            market=batch.market,
            tr_cd=batch.tr_cd,
            symbol=symbol,
            start_ns=link.recv_ns,
            end_ns=recv_ns,
            start_time=link.time,
            end_time=time,
            volume_before=link.volume,
            volume_after=volume,
            size_after=size,
            missing=volume - size - link.volume,
            seq_before=link.seq,
            seq_after=seq,
        )


__all__ = ["CHAIN_FIELDS", "ChainStats", "VolumeChains", "VolumeGap"]
