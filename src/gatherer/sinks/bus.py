"""The bus: NATS JetStream as the transport of each worker's journal to other hosts.

What travels is the journal itself: a message is one or more whole journal blocks, verbatim (their
headers, checksums and zstd bodies, docs/formats.md "Journal"), of one worker, in seq order, on the
subject ``<prefix>.<collector>.<worker>``, with ``Nats-Msg-Id`` = ``<collector>.<worker>.<first>-<last>``
(the seq range it holds). Blocks are never re-encoded on the way: the publisher does no per-frame
work, the bytes stay checksummed end to end, and a block's boundaries are fixed on disk, so a
restarted publisher that sends a range again sends the same id and the server drops the copy within
its duplicate window (the consumer also skips seqs it already has, so a copy outside the window is
harmless).

This module holds the connection (credentials from the environment only), the stream's creation or
check, message naming, and ``Outbox``: publish a list of messages and wait for every acknowledgement,
with a bounded number in flight. The journal side is ``run.publish``; the consumer side
``sinks.bus_consumer`` and ``run.sink``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from gatherer.config import BusConfig
from gatherer.errors import GathererError

log = logging.getLogger(__name__)

ENV_TOKEN = "GATHERER_BUS_TOKEN"
ENV_USER = "GATHERER_BUS_USER"
ENV_PASSWORD = "GATHERER_BUS_PASSWORD"
ENV_CREDS = "GATHERER_BUS_CREDS"

MSG_ID = "Nats-Msg-Id"

BusError = (
    nats.errors.Error,
    nats.js.errors.Error,
    asyncio.TimeoutError,
    OSError,
)
"""What a publish or a fetch can raise when the bus is down, slow or refuses: the caller backs off,
reconnects and sends again from its checkpoint."""


class BusConfigError(GathererError):
    """The bus's stream exists with settings that do not fit ours, or it refuses us for good."""


def collector_id(bus: BusConfig) -> str:
    """The collector's id: the configured one, else the host name made subject-safe."""
    if bus.collector:
        return bus.collector
    host = socket.gethostname().split(".")[0]
    return "".join(c if c.isalnum() or c == "_" else "_" for c in host) or "collector"


def subject(prefix: str, collector: str, worker: str) -> str:
    return f"{prefix}.{collector}.{worker}"


def msg_id(collector: str, worker: str, first_seq: int, last_seq: int) -> str:
    return f"{collector}.{worker}.{first_seq}-{last_seq}"


def split_subject(prefix: str, subj: str) -> tuple[str, str] | None:
    """(collector, worker) of one of our subjects, or None for a subject that is not ours."""
    head = prefix + "."
    if not subj.startswith(head):
        return None
    parts = subj[len(head) :].split(".")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


BUS_ENV = (ENV_TOKEN, ENV_USER, ENV_PASSWORD, ENV_CREDS)
"""The variables that hold the bus's credentials: kept out of every child process's environment
(a publisher gets them over its pipe, ``run.publishers``)."""


def bus_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """The bus credential variables set in ``environ`` (to hand to a publisher over its pipe)."""
    return {k: environ[k] for k in BUS_ENV if environ.get(k)}


def _auth(environ: Mapping[str, str]) -> dict[str, Any]:
    """Connection options from the environment; nothing of it is ever logged."""
    if environ.get(ENV_CREDS):
        return {"user_credentials": environ[ENV_CREDS]}
    if environ.get(ENV_TOKEN):
        return {"token": environ[ENV_TOKEN]}
    if environ.get(ENV_USER):
        return {"user": environ[ENV_USER], "password": environ.get(ENV_PASSWORD, "")}
    return {}


async def _quiet_error(exc: Exception) -> None:
    log.debug("bus: %s", exc)


async def connect(
    url: str, *, name: str, max_pending: int = 256, credentials: Mapping[str, str] | None = None
) -> tuple[Client, JetStreamContext]:
    """One connection to the bus (all of ``url``'s comma-separated servers), reconnecting by itself
    once it was up; raises one of ``BusError`` when no server answers now. ``credentials``: the
    ``BUS_ENV`` variables to use (default: this process's environment)."""

    async def disconnected() -> None:
        if not nc.is_closed:
            log.warning("bus %s: disconnected; reconnecting", name)

    async def reconnected() -> None:
        log.warning("bus %s: reconnected", name)

    nc = await nats.connect(
        servers=[u.strip() for u in url.split(",")],
        name=name,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=_quiet_error,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        pending_size=64 * 1024 * 1024,
        **_auth(os.environ if credentials is None else credentials),
    )
    return nc, nc.jetstream(timeout=10, publish_async_max_pending=max_pending)


def stream_config(bus: BusConfig) -> StreamConfig:
    return StreamConfig(
        name=bus.stream,
        subjects=[f"{bus.subject_prefix}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_bytes=bus.max_bytes,
        max_age=bus.max_age_s,
        duplicate_window=bus.duplicate_window_s,
        num_replicas=bus.replicas,
    )


async def ensure_stream(js: JetStreamContext, bus: BusConfig) -> None:
    """Create the stream, or check that the one there takes our subjects with our replicas."""
    want = stream_config(bus)
    try:
        info = await js.stream_info(bus.stream)
    except nats.js.errors.NotFoundError:
        await js.add_stream(want)
        log.info("bus: created stream %s (%s, %d replica(s))", bus.stream, want.subjects, bus.replicas)
        return
    have = info.config
    problems = []
    if want.subjects and not set(want.subjects) <= set(have.subjects or []):
        problems.append(f"its subjects are {have.subjects}, ours {want.subjects}")
    if have.num_replicas != bus.replicas:
        problems.append(f"it has {have.num_replicas} replica(s), bus.replicas says {bus.replicas}")
    if problems:
        raise BusConfigError(
            f"bus stream {bus.stream} exists but " + "; ".join(problems)
            + ": change the config's bus table to match, or edit the stream (nats stream edit) so it fits"
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Message:
    """One NATS message of journal blocks: a worker's records ``first_seq..last_seq``."""

    first_seq: int
    last_seq: int
    data: bytes


class Outbox:
    """Publishes one worker's messages on its subject and waits for the server's acknowledgements."""

    def __init__(self, js: JetStreamContext, bus: BusConfig, collector: str, worker: str) -> None:
        self._js = js
        self._stream = bus.stream
        self._timeout_s = bus.ack_timeout_s
        self.collector = collector
        self.worker = worker
        self.subject = subject(bus.subject_prefix, collector, worker)
        self.duplicates = 0
        """Messages the server said it already had (sent again after a reconnect or a restart)."""

    async def start(self, messages: Sequence[Message]) -> asyncio.Future[list[Any]]:
        """Publish ``messages`` in order (at most the in-flight bound waits unacknowledged; beyond it
        this waits); returns the future of their acknowledgements, for ``finish``."""
        futures = []
        for m in messages:
            headers = {MSG_ID: msg_id(self.collector, self.worker, m.first_seq, m.last_seq)}
            futures.append(await self._js.publish_async(self.subject, m.data, wait_stall=self._timeout_s,
                                                         headers=headers))  # fmt: skip
        return asyncio.gather(*futures)

    async def finish(self, acks: asyncio.Future[list[Any]]) -> None:
        """Wait until the stream has every message of one ``start``; raises one of ``BusError`` (some
        may be stored: sending them again is harmless, same ids)."""
        try:
            done = await asyncio.wait_for(asyncio.shield(acks), self._timeout_s)
        except BaseException:
            acks.cancel()
            raise
        for ack in done:
            if ack.stream != self._stream:
                raise BusConfigError(
                    f"subject {self.subject} is stored by stream {ack.stream}, not {self._stream}"
                )
            self.duplicates += bool(ack.duplicate)

    async def send(self, messages: Sequence[Message]) -> None:
        """``start`` and ``finish``."""
        await self.finish(await self.start(messages))


__all__ = [
    "BusConfigError",
    "BusError",
    "Message",
    "Outbox",
    "collector_id",
    "connect",
    "ensure_stream",
    "msg_id",
    "split_subject",
    "stream_config",
    "subject",
]
