"""A worker process (``gatherer _worker``): its connections, its journal, its store.

The supervisor starts it with standard input as a pipe and writes JSON lines to it: the
first carries the worker's part of the plan and the tokens of the app keys it uses; later
lines carry refreshed tokens. Tokens travel only through this pipe, never through the
command line, the environment or a file. End-of-file on standard input — the supervisor
closed it, or died, even by SIGKILL — means: stop registering, close the connections,
fsync the journal, let the store drain, print the result as one JSON line, exit 0. So no
worker outlives its supervisor by more than the few seconds that takes. It is the only way
a worker stops: SIGINT, SIGTERM and SIGHUP are ignored (``gatherer.__main__``), so a Ctrl-C to
the terminal's process group or systemd's SIGTERM to every process reaches the supervisor, which
stops its workers in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any

import msgspec

from gatherer.clock import ScaledClock, SystemClock
from gatherer.logs import child_flags, configure
from gatherer.plan.select import Registration
from gatherer.run.pipeline import Recorded, StoreArgs, record
from gatherer.run.status_files import RecentErrors, publish_worker
from gatherer.run.worker import Worker, WorkerSettings
from gatherer.venues.ls.auth import token_fingerprint
from gatherer.venues.ls.hours import SessionWindows

log = logging.getLogger(__name__)


class ConnectionSpec(msgspec.Struct, frozen=True):
    key_index: int
    registrations: list[tuple[str, str, str, str]]
    """(market, channel, tr_cd, symbol) of each registration."""


class WorkerSpec(msgspec.Struct, frozen=True):
    worker_id: str
    ws_url: str
    root: str
    venue: str
    cutoffs: dict[str, str]
    registrations_per_s: float
    """Each app key's registration rate; the plan keeps a key's connections in one worker."""
    connections: list[ConnectionSpec]
    stall_s: float = 60.0
    parquet_flush_s: float = 300.0
    decode: bool = True
    clock: str | None = None
    """A ``ScaledClock.spec``: share the supervisor's compressed day (tests); None = real time."""
    reconnect_stagger_s: float = 0.2
    """Spacing of one app key's connection attempts (``WorkerSettings.reconnect_stagger_s``)."""
    sessions: SessionWindows | None = None
    """When each session group trades, for the stall watchdog; computed by the supervisor (the
    worker never builds a calendar) and sent again on this pipe at each cutoff."""
    session_groups: dict[str, str] = msgspec.field(default_factory=dict)
    """Overseas symbol -> its exchange's session group, from the day's masters."""


class Control(msgspec.Struct, frozen=True, omit_defaults=True):
    """One line on the worker's standard input."""

    spec: WorkerSpec | None = None
    tokens: dict[int, str] | None = None
    sessions: SessionWindows | None = None
    """Newer session windows (the supervisor's refresh at the cutoff)."""


class WorkerReport(msgspec.Struct):
    """The worker's last line on standard output."""

    worker_id: str
    first_seq: int
    end_seq: int
    connections: list[dict[str, Any]]
    store: dict[str, Any]
    disk_incidents: int = 0
    """Times the journal's disk failed (full, I/O error) and capture waited for it; each is logged
    and journaled (disk_full/disk_error, disk_ok)."""


class TokenRefused(msgspec.Struct, frozen=True):
    """The venue refused app key ``key``'s token: named by its fingerprint, never sent itself."""

    key: int
    fingerprint: str


class TokenRefusedLine(msgspec.Struct, frozen=True):
    """A worker's request line on standard output (before its last line, the WorkerReport)."""

    token_refused: TokenRefused


TOKEN_REFUSED_PREFIX = b'{"token_refused"'
TOKEN_WAIT_S = 30.0
"""How long a worker waits for a new token after a refusal before registering with what it has."""

control_encoder = msgspec.json.Encoder()
_control_decoder = msgspec.json.Decoder(Control)


class TokenBook:
    """The latest token of each app key, updated from the supervisor's lines."""

    def __init__(self) -> None:
        self._tokens: dict[int, str] = {}
        self._changed = asyncio.Event()

    def update(self, tokens: dict[int, str]) -> None:
        self._tokens.update(tokens)
        self._changed.set()
        self._changed = asyncio.Event()

    async def get(self, key_index: int) -> str:
        while key_index not in self._tokens:
            await self._changed.wait()
        return self._tokens[key_index]

    async def newer_than(self, key_index: int, refused: str, timeout_s: float) -> str:
        """The key's token once it is not ``refused`` any more; after ``timeout_s``, the one there is."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._tokens.get(key_index, refused) == refused:
                    await self._changed.wait()
        return await self.get(key_index)


async def ask_for_token(book: TokenBook, key_index: int, refused: str) -> str:
    """Tell the supervisor (one line on standard output) that ``refused`` was refused; wait for the next."""
    line = TokenRefusedLine(TokenRefused(key_index, token_fingerprint(refused)))
    sys.stdout.buffer.write(control_encoder.encode(line) + b"\n")
    sys.stdout.flush()
    log.warning("the venue refused app key %d's token; asked the supervisor for a new one", key_index + 1)
    return await book.newer_than(key_index, refused, TOKEN_WAIT_S)


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def worker_main(verbosity: int = 0, log_file: str | None = None) -> int:
    """The worker process: signals are ignored (``gatherer.__main__``); its supervisor stops it by
    closing standard input."""
    reader = await _stdin_reader()
    first = await reader.readline()
    if not first:
        return 0  # the supervisor went away before sending the plan
    control = _control_decoder.decode(first)
    if control.spec is None:
        raise SystemExit("the first line from the supervisor must carry the plan")
    spec = control.spec
    configure(verbosity, process_name=spec.worker_id, log_file=log_file)
    book = TokenBook()
    book.update(control.tokens or {})
    stop = asyncio.Event()

    workers: list[Worker] = []
    newer: list[SessionWindows] = []  # windows that came before the worker existed

    async def follow_supervisor() -> None:
        while line := await reader.readline():
            update = _control_decoder.decode(line)
            if update.tokens:
                book.update(update.tokens)
            if update.sessions is not None:
                if workers:
                    workers[0].update_sessions(update.sessions)
                else:
                    newer[:] = [update.sessions]
        stop.set()  # end of file: the supervisor is done with us, or dead

    errors = RecentErrors()
    logging.getLogger().addHandler(errors)
    publisher: list[asyncio.Task[None]] = []

    def started(worker: Worker, _done: Recorded) -> None:
        workers.append(worker)
        for windows in newer:
            worker.update_sessions(windows)
        status = publish_worker(Path(spec.root), worker, spec.worker_id, errors)
        publisher.append(asyncio.create_task(status, name="status"))

    cutoffs = {m: dt.time.fromisoformat(t) for m, t in spec.cutoffs.items()}
    follower = asyncio.create_task(follow_supervisor())
    try:
        done = await record(
            Path(spec.root),
            WorkerSettings(
                worker_id=spec.worker_id,
                registrations_per_s=spec.registrations_per_s,
                stall_s=spec.stall_s,
                reconnect_stagger_s=spec.reconnect_stagger_s,
            ),
            ws_url=spec.ws_url,
            groups=[[Registration(*r) for r in c.registrations] for c in spec.connections],
            keys=[c.key_index for c in spec.connections],
            token=book.get,
            on_token_refused=lambda key, refused: ask_for_token(book, key, refused),
            clock=ScaledClock.from_spec(spec.clock) if spec.clock else SystemClock(),
            stop=stop,
            store=StoreArgs(spec.venue, cutoffs, spec.parquet_flush_s, child_flags(verbosity, log_file))
            if spec.decode
            else None,
            sessions=spec.sessions,
            session_groups=spec.session_groups,
            on_start=started,
        )
    finally:
        follower.cancel()
        for task in publisher:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    report = WorkerReport(
        worker_id=spec.worker_id,
        first_seq=done.first_seq,
        end_seq=done.end_seq,
        connections=[dataclasses.asdict(s) for s in done.connections],
        store=done.store,
        disk_incidents=done.disk_incidents,
    )
    sys.stdout.buffer.write(msgspec.json.encode(report) + b"\n")
    sys.stdout.flush()
    return 0
