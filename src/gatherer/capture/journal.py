"""The journal: append raw records now, make them durable in groups.

Every frame a connection receives is appended here before anything parses it (DESIGN.md,
"Record raw first"). ``Journal.append`` runs on the event loop inside a WebSocket callback: it
encodes the record into an in-memory block and returns its sequence number, with no I/O. A flusher
task compresses pending blocks (zstd, one frame per block), writes and fsyncs them in a worker
thread at least every ``commit_interval_s``, and on rotation and close; ``durable_seq`` then moves
and ``wait_durable`` waiters wake. It never parses a payload and never drops one.

Records are encoded here (format version 1, byte layout in ``segment.py`` and docs/formats.md);
``writer.py`` writes the blocks into segment files and says where they are and when they roll.

Back-pressure contract: the journal never refuses, drops or raises for being full. When pending
(not yet written) bytes exceed ``max_pending_bytes``, ``backlogged`` is True and ``wait_writable``
blocks until the flusher has caught up; the owner decides to stop reading the socket meanwhile.

A disk that is full or fails is an incident, not the end (``disk.py``): the records stay in memory
while the write is retried and are written in order when it works again; only ``close`` gives up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import struct
from pathlib import Path
from types import TracebackType

import google_crc32c

from gatherer.capture import events
from gatherer.capture.disk import DiskIncident, JournalFailed
from gatherer.capture.segment import MAX_WORKER_ID_BYTES, Kind
from gatherer.capture.settings import JournalSettings
from gatherer.capture.writer import Chunk, FileOps, SegmentWriter, resume
from gatherer.clock import Clock, SystemClock, next_cutoff_ns, trading_day_of

log = logging.getLogger(__name__)

_RECORD_HEAD = struct.Struct("<BBIqI")
_pack_head = _RECORD_HEAD.pack
_SHUT = -(1 << 64)
"""``_gate_ns`` of a closing or failed journal: every append takes the slow path, which raises."""
# Plain ints: hashing an IntEnum member runs Python code, too slow for the hot path.
_KINDS = frozenset(int(k) for k in Kind)
_WORKER_ID = re.compile(r"^[A-Za-z0-9_]+$")
_crc = google_crc32c.value


class Journal:
    """One worker's journal. Build with ``await Journal.open(...)`` or ``async with Journal(...)``.

    ``append`` must be called from the event loop thread the journal was opened on.
    """

    def __init__(
        self,
        root: Path | str,
        worker_id: str,
        *,
        settings: JournalSettings | None = None,
        clock: Clock | None = None,
        file_ops: FileOps | None = None,
    ) -> None:
        if not _WORKER_ID.match(worker_id) or len(worker_id.encode()) > MAX_WORKER_ID_BYTES:
            raise ValueError(f"worker id {worker_id!r}: expected 1..16 characters of [A-Za-z0-9_]")
        self._root = Path(root)
        self._worker_id = worker_id
        self._settings = settings or JournalSettings()
        self._clock: Clock = clock or SystemClock()
        self._ops = file_ops or FileOps()
        self._cid_cache: dict[str, bytes] = {}
        self._sealed: list[Chunk] = []
        self._pending_bytes = 0
        self._block_bytes = self._settings.block_bytes
        self._max_pending = self._settings.max_pending_bytes
        self.backlogged = False
        """True while unwritten bytes exceed ``max_pending_bytes``; the owner should stop reading.
        Kept up to date where pending bytes change (append, commit): a plain attribute, read per frame."""
        self._next_seq = 0
        self._durable_seq = -1
        self.durable_lag_ns = 0
        """How long the oldest record of the last commit waited from receipt to fsync (status page)."""
        self._failure: BaseException | None = None
        self._closing = False
        self._close_deadline = 0.0
        self._disk = DiskIncident(self._root, worker_id, self._settings, self._clock)
        self._task: asyncio.Task[None] | None = None
        self._writer: SegmentWriter | None = None
        # Set in open(): they need the running loop and the recovered position.
        self._day = dt.date.min
        self._next_cutoff_ns = 0
        self._gate_ns = 0
        """``append`` leaves its fast path at or past this time: the next cutoff, or _SHUT."""
        self._chunk = Chunk(self._day, 0)

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        root: Path | str,
        worker_id: str,
        *,
        settings: JournalSettings | None = None,
        clock: Clock | None = None,
        file_ops: FileOps | None = None,
    ) -> Journal:
        """Recover the worker's last segment, then start the flusher; records go to a new segment."""
        journal = cls(root, worker_id, settings=settings, clock=clock, file_ops=file_ops)
        await journal._start()
        return journal

    async def _start(self) -> None:
        if self._task is not None:
            raise RuntimeError("journal already open")
        self._next_seq, next_segment = await asyncio.to_thread(resume, self._root, self._worker_id)
        self._durable_seq = self._next_seq - 1
        now = self._clock.time_ns()
        self._day = trading_day_of(now, self._settings.cutoff)
        self._next_cutoff_ns = next_cutoff_ns(now, self._settings.cutoff)
        self._set_gate()
        self._chunk = Chunk(self._day, self._next_seq)
        self._writer = SegmentWriter(
            self._root, self._worker_id, next_segment, self._settings, self._clock, self._ops
        )
        self._has_data = asyncio.Event()
        self._kick = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._flushed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._flusher(), name=f"journal-flusher-{self._worker_id}")

    async def __aenter__(self) -> Journal:
        if self._task is None:
            await self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Write and fsync everything appended, close the segment.

        A failing disk is tried for up to ``close_retry_s`` more; then JournalFailed is raised,
        naming the records that could not be written.
        """
        if self._task is None:
            return
        if not self._closing:
            self._close_deadline = asyncio.get_running_loop().time() + self._settings.close_retry_s
        self._closing = True
        self._set_gate()
        self._kick.set()
        self._has_data.set()
        try:
            await asyncio.shield(self._task)
        finally:
            if self._writer is not None:
                try:
                    await asyncio.to_thread(self._writer.close)
                except OSError as exc:
                    # Every block was synced when it was written; this was the last metadata sync.
                    log.error("Journal segment %s could not be closed cleanly: %s", self._writer.path, exc)
        self._raise_if_failed()

    # -- hot path ---------------------------------------------------------------------------

    def append(self, kind: Kind, conn_id: str, payload: bytes, recv_ns: int | None = None) -> int:
        """Add one record and return its sequence number. No I/O; never refuses for being full.

        ``recv_ns`` defaults to the clock's time. A ``bytearray``/``memoryview`` payload is copied.
        Raises JournalFailed once the journal gave up writing (see ``close``), RuntimeError after close.
        """
        # Once per frame on the receive path: every check that rarely fires sits behind one
        # comparison (the gate: the next trading-day cutoff, or _SHUT once closing or failed).
        if recv_ns is None:
            recv_ns = self._clock.time_ns()
        if recv_ns >= self._gate_ns:
            self._pass_gate(recv_ns)
        if type(payload) is not bytes:
            payload = bytes(payload)
        cid = self._cid_cache.get(conn_id)
        if cid is None:
            cid = self._encode_conn_id(conn_id)
        if kind not in _KINDS:
            raise ValueError(f"unknown record kind {kind!r}")
        chunk = self._chunk
        buf = chunk.buf
        buf += _pack_head(kind, len(cid), len(payload), recv_ns, _crc(payload))
        buf += cid
        buf += payload
        seq = self._next_seq
        self._next_seq = seq + 1
        pending = self._pending_bytes = self._pending_bytes + 18 + len(cid) + len(payload)
        if seq == chunk.first_seq:
            chunk.first_ns = recv_ns
            self._has_data.set()
        if len(buf) >= self._block_bytes:
            self._seal()
            self._kick.set()
        if pending > self._max_pending and not self.backlogged:
            self.backlogged = True
            self._writable.clear()
        return seq

    def _pass_gate(self, recv_ns: int) -> None:
        """``append``'s slow path: refuse when closing or failed, else start the new trading day."""
        if self._failure is not None or self._closing:
            self._raise_if_failed()
            raise RuntimeError("journal is closed")
        self._roll_day(recv_ns)

    def _set_gate(self) -> None:
        self._gate_ns = _SHUT if (self._failure is not None or self._closing) else self._next_cutoff_ns

    def _encode_conn_id(self, conn_id: str) -> bytes:
        cid = conn_id.encode()
        if len(cid) > 255:
            raise ValueError(f"connection id {conn_id!r} is longer than 255 bytes")
        self._cid_cache[conn_id] = cid
        return cid

    def _roll_day(self, recv_ns: int) -> None:
        self._seal()
        self._day = trading_day_of(recv_ns, self._settings.cutoff)
        self._next_cutoff_ns = next_cutoff_ns(recv_ns, self._settings.cutoff)
        self._set_gate()
        self._chunk.day = self._day
        self._kick.set()

    def _seal(self) -> None:
        chunk = self._chunk
        count = self._next_seq - chunk.first_seq  # counted here, not per record
        if count:
            chunk.count = count
            chunk.nbytes = len(chunk.buf)
            self._sealed.append(chunk)
            self._chunk = Chunk(self._day, self._next_seq)

    # -- durability -------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """Sequence number the next append will get."""
        return self._next_seq

    @property
    def durable_seq(self) -> int:
        """Every record with ``seq <= durable_seq`` is on disk and fsync'd (-1: none yet)."""
        return self._durable_seq

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def disk_error(self) -> str | None:
        """The alarm: what failed and what to do while writes fail (disk full, I/O error); None when fine."""
        return self._disk.error

    @property
    def disk_incidents(self) -> int:
        """How many times writing started failing since the journal was opened."""
        return self._disk.incidents

    @property
    def segment_path(self) -> Path | None:
        """The segment being written, once the first block has been written."""
        return None if self._writer is None else self._writer.path

    async def wait_writable(self) -> None:
        """Return once pending bytes are back under ``max_pending_bytes``."""
        while not self._writable.is_set():
            self._raise_if_failed()
            await self._writable.wait()
        self._raise_if_failed()

    async def wait_durable(self, seq: int) -> None:
        """Return once record ``seq`` (and all before it) is fsync'd. Does not hurry the flusher."""
        if seq >= self._next_seq:
            raise ValueError(f"record {seq} has not been appended (next is {self._next_seq})")
        while self._durable_seq < seq:
            self._raise_if_failed()
            if self._task is None or self._task.done():
                raise RuntimeError("journal is not running")
            await asyncio.shield(self._flushed)
        self._raise_if_failed()

    async def flush(self) -> None:
        """Write and fsync everything appended so far, now."""
        if self._next_seq - 1 > self._durable_seq:
            self._kick.set()
            await self.wait_durable(self._next_seq - 1)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise JournalFailed(
                f"journal of worker {self._worker_id} gave up writing: {self._failure}; records after "
                f"seq {self._durable_seq} are not durable"
            ) from self._failure

    # -- flusher ----------------------------------------------------------------------------

    async def _flusher(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._settings.commit_interval_s
        first_pending_at: float | None = None
        writer = self._writer
        assert writer is not None
        try:
            while True:
                if first_pending_at is None:
                    await self._has_data.wait()
                    first_pending_at = loop.time()
                if self._disk.error is not None:
                    await self._retry_pause(loop)
                else:
                    remaining = first_pending_at + interval - loop.time()
                    if remaining > 0 and not self._kick.is_set() and not self._closing:
                        try:
                            await asyncio.wait_for(self._kick.wait(), timeout=remaining)
                        except TimeoutError:
                            pass
                self._kick.clear()
                self._has_data.clear()
                self._seal()
                chunks, self._sealed = self._slice(self._sealed)
                started = loop.time()
                if chunks:
                    try:
                        await asyncio.to_thread(writer.write, chunks)
                    except OSError as exc:
                        done = writer.committed
                        self._committed(chunks[:done])
                        self._sealed[:0] = chunks[done:]  # kept, in order, for the next try
                        self._write_failed(exc, writer.target)
                        first_pending_at = started
                        continue
                    self._committed(chunks)
                    if self._disk.error is not None:
                        self._write_recovered(writer.path)
                # Records that came in during the write have waited at most since it started.
                waiting = self._next_seq > self._chunk.first_seq or self._sealed
                first_pending_at = started if waiting else None
                if self._sealed:
                    self._kick.set()  # the rest of a backlog goes next, without waiting
                if self._closing and first_pending_at is None:
                    return
        finally:
            self._writable.set()
            self._wake_durable_waiters()

    def _slice(self, sealed: list[Chunk]) -> tuple[list[Chunk], list[Chunk]]:
        """The sealed blocks to write now (at least one, at most ``write_slice_bytes`` raw), and the rest."""
        total, n = 0, 0
        for chunk in sealed:
            if n and total + chunk.nbytes > self._settings.write_slice_bytes:
                break
            total += chunk.nbytes
            n += 1
        return sealed[:n], sealed[n:]

    def _committed(self, chunks: list[Chunk]) -> None:
        if not chunks:
            return
        self._durable_seq = chunks[-1].first_seq + chunks[-1].count - 1
        self.durable_lag_ns = max(0, self._clock.time_ns() - chunks[0].first_ns)
        self._pending_bytes -= sum(c.nbytes for c in chunks)
        self.backlogged = self._pending_bytes > self._max_pending
        if not self.backlogged:
            self._writable.set()
        self._wake_durable_waiters()

    async def _retry_pause(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait before trying a failing disk again; past the close deadline, give up."""
        delay = self._disk.retry_delay_s()
        if self._closing:
            left = self._close_deadline - loop.time()
            if left <= 0:
                self._give_up()
            delay = min(delay, left)
        await asyncio.sleep(delay)

    def _write_failed(self, exc: OSError, path: Path | None) -> None:
        event = self._disk.failed(exc, path, self._pending_bytes)
        if event is not None:
            self._note(event)

    def _write_recovered(self, path: Path | None) -> None:
        self._note(self._disk.recovered(path))

    def _give_up(self) -> None:
        exc = self._disk.last_exc
        assert exc is not None
        self._failure = exc
        self._set_gate()
        raise self._disk.give_up(self._durable_seq + 1, self._next_seq - 1) from exc

    def _note(self, event: events.Event) -> None:
        """Journal an EVENT of the journal itself (conn_id: the worker id); accepted while closing."""
        closing, self._closing = self._closing, False
        self._set_gate()
        try:
            self.append(Kind.EVENT, self._worker_id, events.encode(event))
        finally:
            self._closing = closing
            self._set_gate()

    def _wake_durable_waiters(self) -> None:
        if not self._flushed.done():
            self._flushed.set_result(None)
        self._flushed = asyncio.get_running_loop().create_future()
