"""A/B merge in the sink (``gatherer sink --merge``): collectors recording the same universe (other
app keys, other hosts) into one stream, stored as one day with each venue frame once.

A collector's seq says nothing about another's, so the merge key is the frame itself: per stream
(``tr_cd`` + ``tr_key``, ``venues.ls.envelope.frame_stream``), the frame's bytes as the venue sent them
(header and body: exchange time, cumulative volume, prices, all of it; an 8-byte BLAKE2b digest) and
their order: the n-th copy of the same bytes on one side matches the n-th on the other. The first
side to bring a frame to the sink stores it (in its own store, ``<collector>.<worker>``); the other
side's copy is counted and dropped. Where one side had an outage, the other side's frames are the
only copies and are stored: the sides fill each other's holes.

Limits (docs/scale-out.md): the two copies of a frame must reach the sink within ``window`` frames of
each other on that stream (per side); a side that lags further (its publisher catching up after a
long bus outage) has its copies stored again. Two frames of one stream with identical bytes are told
apart only by their order. Acknowledgements, events and frames that are not data (no stream) are not
merged: each side's go to its own store. The volume-chain gap files are per side, so a stretch the
other side won shows as a gap there; the day's rows are whole.

The ledger of sides: per stream, each stretch of consecutive stored frames from one side (first and
last receive time, frames), appended at each checkpoint to ``ledger/date=D/sides-<durable>.jsonl``.
The merge state (recent digests, open stretches, how far each store's records were merged) is saved
with every checkpoint (``state/sink-<durable>.merge``), so a restart neither stores a copy twice nor
loses one.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from gatherer.capture import Kind, Record
from gatherer.clock import TradingDays
from gatherer.files import write_durable
from gatherer.venues.ls.envelope import frame_stream

WINDOW = 4096
"""Recent frames remembered per stream and side."""


@dataclass
class _Side:
    recent: collections.deque[int] = field(default_factory=collections.deque)
    counts: collections.Counter[int] = field(default_factory=collections.Counter)


@dataclass
class Stretch:
    stream: str
    side: str
    first_ns: int
    last_ns: int
    frames: int


@dataclass
class MergeStats:
    stored: int = 0
    dropped: int = 0
    """Copies another side had brought first."""
    passed: int = 0
    """Records that are not data frames (acks, events), left to their side's store."""


class Merger:
    def __init__(self, root: Path, durable: str, *, window: int = WINDOW) -> None:
        self.root = root
        self.durable = durable
        self.window = window
        self.stats = MergeStats()
        self.fed: dict[str, int] = {}
        """Per store id, the last seq whose record went through the merge."""
        self._streams: dict[bytes, dict[str, _Side]] = {}
        self._open: dict[bytes, Stretch] = {}
        self._closed: list[Stretch] = []
        self._days = TradingDays(None)
        self._load()

    def take(self, store_id: str, records: list[Record]) -> list[Record]:
        """The records of one message of side ``store_id`` to store: its new frames and its non-frames."""
        side = store_id.split(".", 1)[0]
        fed = self.fed.get(store_id, -1)
        out = []
        for r in records:
            if r.seq <= fed:
                continue
            key = frame_stream(r.payload) if r.kind == Kind.FRAME else None
            if key is None:
                self.stats.passed += 1
                out.append(r)
            elif self._first_copy(key, side, r.payload):
                self.stats.stored += 1
                self._stretch(key, side, r.recv_ns)
                out.append(r)
            else:
                self.stats.dropped += 1
        if records:
            self.fed[store_id] = max(fed, records[-1].seq)
        return out

    def _first_copy(self, key: bytes, side: str, payload: bytes) -> bool:
        digest = int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "big")
        sides = self._streams.setdefault(key, {})
        mine = sides.setdefault(side, _Side())
        mine.counts[digest] += 1
        mine.recent.append(digest)
        if len(mine.recent) > self.window:
            old = mine.recent.popleft()
            mine.counts[old] -= 1
            if not mine.counts[old]:
                del mine.counts[old]
        nth = mine.counts[digest]
        return all(other.counts.get(digest, 0) < nth for s, other in sides.items() if s != side)

    def _stretch(self, key: bytes, side: str, recv_ns: int) -> None:
        now = self._open.get(key)
        if now is not None and now.side == side:
            now.last_ns, now.frames = recv_ns, now.frames + 1
            return
        if now is not None:
            self._closed.append(now)
        self._open[key] = Stretch(_readable(key), side, recv_ns, recv_ns, 1)

    def stretches(self) -> Iterator[Stretch]:
        """Every stretch known now: closed ones not yet written, then the open ones."""
        yield from self._closed
        yield from self._open.values()

    # -- persistence, with every checkpoint of the sink ------------------------------------------

    def _state_path(self) -> Path:
        return self.root / "state" / f"sink-{self.durable}.merge"

    def save(self) -> None:
        """Append the closed stretches to the ledger, then save the state (recent digests, open
        stretches, positions) in one replaced file."""
        by_day: dict[str, list[str]] = collections.defaultdict(list)
        for s in self._closed:
            by_day[self._days.of(s.first_ns).isoformat()].append(json.dumps(s.__dict__))
        for day, lines in sorted(by_day.items()):
            path = self.root / "ledger" / f"date={day}" / f"sides-{self.durable}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        self._closed.clear()
        self._write_open()
        state = {
            "fed": self.fed,
            "streams": {
                k.decode(): {s: list(v.recent) for s, v in sides.items()}
                for k, sides in self._streams.items()
            },
            "open": {k.decode(): v.__dict__ for k, v in self._open.items()},
            "ledger_sizes": {str(p): p.stat().st_size for p in self._ledger_files()},
        }
        write_durable(self._state_path(), msgspec.msgpack.encode(state))

    def _write_open(self) -> None:
        """The stretches still open, as they stand, in one file per day replaced at each checkpoint."""
        by_day: dict[str, list[str]] = collections.defaultdict(list)
        for s in self._open.values():
            by_day[self._days.of(s.first_ns).isoformat()].append(json.dumps(s.__dict__))
        for old in self.root.glob(f"ledger/date=*/sides-{self.durable}.open.jsonl"):
            if old.parent.name[5:] not in by_day:
                old.unlink()
        for day, lines in by_day.items():
            path = self.root / "ledger" / f"date={day}" / f"sides-{self.durable}.open.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.replace(tmp, path)

    def _ledger_files(self) -> list[Path]:
        return sorted(self.root.glob(f"ledger/date=*/sides-{self.durable}.jsonl"))

    def _load(self) -> None:
        """The state of the last checkpoint; ledger lines appended after it are cut off (the stretches
        they describe are formed again from the records delivered again)."""
        path = self._state_path()
        state = msgspec.msgpack.decode(path.read_bytes()) if path.exists() else None
        sizes = state["ledger_sizes"] if state else {}
        for ledger in self._ledger_files():
            if ledger.stat().st_size > sizes.get(str(ledger), 0):
                os.truncate(ledger, sizes.get(str(ledger), 0))
        if state is None:
            return
        self.fed = {k: int(v) for k, v in state["fed"].items()}
        for key, sides in state["streams"].items():
            for side, digests in sides.items():
                s = self._streams.setdefault(key.encode(), {}).setdefault(side, _Side())
                s.recent.extend(digests)
                s.counts.update(digests)
        self._open = {k.encode(): Stretch(**v) for k, v in state["open"].items()}


def _readable(key: bytes) -> str:
    """``stream_key``'s bytes as "tr_cd tr_key" (the key's padding dropped)."""
    tr_cd, _sep, tr_key = key.decode("utf-8", "replace").partition('","tr_key":"')
    return f"{tr_cd} {tr_key.strip()}"


def read_sides(root: Path | str, day: str, durable: str) -> list[dict[str, object]]:
    """The stretches of a day's ledger of sides: the closed ones in order, then those still open."""
    out = []
    for name in (f"sides-{durable}.jsonl", f"sides-{durable}.open.jsonl"):
        path = Path(root) / "ledger" / f"date={day}" / name
        if path.exists():
            out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return out


__all__ = ["WINDOW", "MergeStats", "Merger", "Stretch", "read_sides"]
