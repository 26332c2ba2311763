"""``gatherer sink``: the bus into a lake, on any host, through the same store as a local run.

Each message holds whole journal blocks of one collector's worker (``sinks.bus``); its records go, in
seq order, into a ``run.store.Store`` of their own (``<collector>.<worker>``: its Parquet files,
quarantine lines, gap files and checkpoint), the very store a local run feeds from its journal, so
the rows are the local store's rows. Records at or before a store's checkpoint are skipped: a message
sent twice (a publisher's restart outside the duplicate window) or delivered again (after a crash of
the sink) is stored once.

The blocks themselves are kept too, verbatim, in a journal replica per ``<collector>.<worker>``
(``capture.replica``: ``journal/date=D/<collector>.<worker>-NNNNNN.journal``), so the day's ledger
(``run.sink_ledger``), ``gatherer journal verify``, ``rebuild``, ``report`` and ``quality`` work on the
sink's root as on the collector's.

Checkpoint, then ack: every ``flush_s`` (and whenever the server has nothing more to give) every
replica is fsynced, every store writes its buffers and checkpoint, then the sink records the stream
sequence it has reached (``state/sink-<durable>.json``) and only then acknowledges the last message,
which acknowledges all before it. A kill at any point loses nothing (the stream keeps what was not
acknowledged; the sink starts again after its checkpoint) and doubles nothing (stores and replicas
skip what they hold; a replica's torn tail is truncated as a collector's journal's is).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nats.js.errors

from gatherer.capture import Block, Record, SegmentScanner
from gatherer.capture.replica import Replica
from gatherer.clock import Clock, SystemClock
from gatherer.files import write_durable
from gatherer.run import bus_masters as masters
from gatherer.run.merge import Merger
from gatherer.run.sink_ledger import SinkLedgers
from gatherer.run.store import Store, exclusive
from gatherer.sinks.bus import BusError, connect, split_subject
from gatherer.sinks.bus_consumer import fetch, open_consumer

log = logging.getLogger(__name__)

LAG_SAMPLES = 100_000
FETCH_WAIT_S = 0.1
"""A fetch returns what came within this time (a full batch returns at once)."""


@dataclass(frozen=True, slots=True)
class SinkSettings:
    url: str
    root: Path
    durable: str = "sink"
    stream: str = "GATHERER"
    subject_prefix: str = "gatherer"
    flush_s: float = 5.0
    """Seconds between checkpoints (and acks); rows become readable then."""
    cutoffs: Mapping[str, dt.time] | None = None
    version: str = ""
    fetch_batch: int = 256
    merge: bool = False
    """A/B: the collectors record the same universe; store each venue frame once (``run.merge``)."""
    journal_keep_days: int | None = None
    """The journal replicas' retention (``[storage] journal_keep_days`` of ``--config``); None keeps all."""


@dataclass
class SinkStats:
    messages: int = 0
    records: int = 0
    """Records stored (skipped copies not counted)."""
    skipped: int = 0
    """Records a store already had (sent or delivered again)."""
    seq_holes: int = 0
    """Times a worker's records did not follow on from the last one (a stretch missing upstream)."""
    damaged: int = 0
    foreign: int = 0
    """Messages on a subject that is not ours: acknowledged and counted, with a log line."""
    checkpoints: int = 0
    replicated: int = 0
    """Records appended to the journal replicas (``capture.replica``)."""
    ledgers: int = 0
    """Day ledgers written (``ledger/date=D/``, ``run.sink_ledger``)."""
    masters: int = 0
    """Master files written (``masters/date=D/<market>.parquet``, as the collector stored them)."""
    stream_seq: int = 0
    stores: dict[str, dict[str, object]] = field(default_factory=dict)
    merge: dict[str, int] | None = None
    """With ``--merge``: frames stored, copies dropped, non-frames passed (``run.merge.MergeStats``)."""
    lag_ns: collections.deque[int] = field(default_factory=lambda: collections.deque(maxlen=LAG_SAMPLES))


def state_path(root: Path, durable: str) -> Path:
    return root / "state" / f"sink-{durable}.json"


def read_state(root: Path, durable: str) -> int | None:
    path = state_path(root, durable)
    return int(json.loads(path.read_text(encoding="utf-8"))["stream_seq"]) if path.exists() else None


def write_state(root: Path, durable: str, stream_seq: int) -> None:
    write_durable(state_path(root, durable), json.dumps({"v": 1, "stream_seq": stream_seq}).encode())


class Sink:
    """The stores of every (collector, worker) met on the stream, and what has not been acked yet."""

    def __init__(self, settings: SinkSettings, clock: Clock, locks: contextlib.ExitStack) -> None:
        self.settings = settings
        self.clock = clock
        self.stats = SinkStats(stream_seq=read_state(settings.root, settings.durable) or 0)
        self._stores: dict[str, Store] = {}
        self._replicas: dict[str, Replica] = {}
        self._locks = locks
        self._unsaved: list[int] = []  # recv_ns samples since the last checkpoint
        self.merger = Merger(settings.root, settings.durable) if settings.merge else None

    def _store(self, store_id: str) -> Store:
        store = self._stores.get(store_id)
        if store is None:
            s = self.settings
            self._locks.enter_context(exclusive(s.root, store_id))
            store, _first = Store.resume(s.root, store_id, version=s.version, venue=s.url, cutoffs=s.cutoffs)
            self._stores[store_id] = store
        return store

    def _replica(self, store_id: str) -> Replica:
        replica = self._replicas.get(store_id)
        if replica is None:
            # The store's lock (taken first, in ``_store``) covers its replica too.
            replica = self._replicas[store_id] = Replica.open(self.settings.root, store_id, self.clock)
        return replica

    def take_days(self) -> set[dt.date]:
        """The trading days the replicas got records of since the last call (their ledgers are due)."""
        days: set[dt.date] = set()
        for replica in self._replicas.values():
            days |= replica.days
            replica.days = set()
        return days

    def close(self) -> None:
        for replica in self._replicas.values():
            replica.close()

    def add(self, subj: str, data: bytes, stream_seq: int, headers: Mapping[str, str] | None = None) -> None:
        """One message's records into its store (those the store does not have yet)."""
        self.stats.messages += 1
        self.stats.stream_seq = stream_seq
        names = split_subject(self.settings.subject_prefix, subj)
        if names is None:
            self.stats.foreign += 1
            log.error(
                "bus message %d on %s is not a journal subject; acknowledged, not stored", stream_seq, subj
            )
            return
        if names[1] == masters.WORKER:
            self.stats.masters += masters.store_master(
                self.settings.root, (headers or {}).get(masters.PATH_HEADER), data
            )
            return
        store_id = f"{names[0]}.{names[1]}"
        store = self._store(store_id)
        replica = self._replica(store_id)
        scanner = SegmentScanner(expect_header=False)
        records: list[Record] = []
        for item in [*scanner.feed(data), *scanner.finish()]:
            if isinstance(item, Block):
                assert item.records is not None
                records.extend(item.records)
                before = replica.records
                replica.append(data[item.offset : item.offset + item.size], item)
                self.stats.replicated += replica.records - before
            else:
                self.stats.damaged += 1
                log.error("bus message %d (%s): damaged bytes, not stored: %s", stream_seq, subj, item)
        if self.merger is not None:
            fresh = self.merger.take(store_id, records)
        else:
            fresh = [r for r in records if r.seq > store.last_seq]
            self.stats.skipped += len(records) - len(fresh)
        if not fresh:
            return
        if self.merger is None and store.last_seq >= 0 and fresh[0].seq != store.last_seq + 1:
            self.stats.seq_holes += 1
            log.error("%s: records %d..%d never reached the bus; stored what came after",
                      store.worker_id, store.last_seq + 1, fresh[0].seq - 1)  # fmt: skip
        store.add(fresh)
        self.stats.records += len(fresh)
        self._unsaved.extend(r.recv_ns for r in fresh[:: max(1, len(fresh) // 20)])

    def checkpoint(self) -> None:
        """Every replica's blocks and every store's rows on disk with its checkpoint, then the stream
        sequence they reach."""
        for replica in self._replicas.values():
            replica.sync()
        for store in self._stores.values():
            store.checkpoint()
        if self.merger is not None:
            self.merger.save()
        write_state(self.settings.root, self.settings.durable, self.stats.stream_seq)
        now = self.clock.time_ns()
        self.stats.lag_ns.extend(now - t for t in self._unsaved)
        self._unsaved.clear()
        self.stats.checkpoints += 1
        self.stats.stores = {k: dict(s.stats.__dict__) for k, s in self._stores.items()}
        if self.merger is not None:
            self.stats.merge = dict(self.merger.stats.__dict__)


async def run_sink(settings: SinkSettings, stop: asyncio.Event, clock: Clock | None = None) -> SinkStats:
    """Consume until ``stop``: fetch, store, checkpoint and ack every ``flush_s``; reconnect when the
    bus goes away, from the last checkpoint. Each finished day's ledger is written from the replicas
    (``run.sink_ledger``), and at the stop the ledger of every day this run got records of."""
    loop = asyncio.get_running_loop()
    clock = clock or SystemClock()
    ledgers = SinkLedgers(settings.root, clock, keep_days=settings.journal_keep_days)
    await ledgers.retain()
    with contextlib.ExitStack() as locks:
        sink = Sink(settings, clock, locks)
        try:
            backoff = 0.2
            while not stop.is_set():
                nc = None
                try:
                    nc, js = await connect(settings.url, name=f"sink.{settings.durable}")
                    sub, pos = await open_consumer(
                        js, settings.stream, settings.durable, f"{settings.subject_prefix}.>",
                        after_seq=read_state(settings.root, settings.durable),
                        ack_wait_s=max(60.0, 4 * settings.flush_s),
                    )  # fmt: skip
                    log.info("sink %s: consuming %s from stream sequence %d", settings.durable,
                             settings.stream, pos.start_seq)  # fmt: skip
                    backoff = 0.2
                    await _consume(sink, sub, stop, settings, loop, ledgers)
                except nats.js.errors.NotFoundError:
                    # The server answers; the stream is not there yet: a collector creates it as it starts.
                    log.warning("sink %s: no stream %s on the bus yet (a collector with [bus] creates it "
                                "as it starts); again in %.1f s",
                                settings.durable, settings.stream, backoff)  # fmt: skip
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    backoff = min(backoff * 2, 5.0)
                except BusError as exc:
                    log.warning("sink %s: bus unavailable (%s); again in %.1f s", settings.durable,
                                type(exc).__name__, backoff)  # fmt: skip
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    backoff = min(backoff * 2, 5.0)
                finally:
                    if nc is not None:
                        with contextlib.suppress(*BusError):
                            await asyncio.wait_for(nc.close(), 2)
            sink.checkpoint()
        finally:
            sink.close()
        ledgers.note(sink.take_days(), loop.time())
        await ledgers.write_all()
        sink.stats.ledgers = ledgers.written
    return sink.stats


async def _consume(
    sink: Sink,
    sub: object,
    stop: asyncio.Event,
    s: SinkSettings,
    loop: asyncio.AbstractEventLoop,
    ledgers: SinkLedgers,
) -> None:
    from nats.js import JetStreamContext

    assert isinstance(sub, JetStreamContext.PullSubscription)
    last = None
    due = loop.time() + s.flush_s
    while True:
        msgs = [] if stop.is_set() else await fetch(sub, s.fetch_batch, min(FETCH_WAIT_S, s.flush_s))
        for m in msgs:
            sink.add(m.subject, m.data, m.metadata.sequence.stream, m.headers)
            last = m
        if last is not None and (not msgs or loop.time() >= due):
            sink.checkpoint()
            await last.ack()  # AckPolicy.ALL: every message up to this one
            ledgers.note(sink.take_days(), loop.time())
            last = None
            due = loop.time() + s.flush_s
        elif last is None and not msgs:
            due = loop.time() + s.flush_s
        if stop.is_set() and last is None:
            return
        if not msgs:
            await ledgers.write_due(loop.time())
            sink.stats.ledgers = ledgers.written


__all__ = ["Sink", "SinkSettings", "SinkStats", "read_state", "run_sink"]
