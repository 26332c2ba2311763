"""The day's masters over the bus: the collector publishes each file under ``masters/`` once (per
content), the sink writes it to the same path under its root.

Subject ``<prefix>.<collector>._masters`` (``_masters`` is no worker id: workers are ``wNN``), header
``Gatherer-Path`` (``masters/date=D/<market>.parquet``), ``Nats-Msg-Id`` =
``<collector>._masters.<path>.<sha256 prefix>``; what was sent is kept in
``state/masters.publish.json`` (path -> sha256), so a master is sent again only when it changed.
The supervisor runs ``publish_masters`` in the background after fetching the masters (at the start
and at each day's re-plan); a bus that is away is tried again with backoff until the run stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
from pathlib import Path

from gatherer.config import BusConfig
from gatherer.files import write_durable
from gatherer.sinks.bus import MSG_ID, BusError, connect, ensure_stream

log = logging.getLogger(__name__)

WORKER = "_masters"
PATH_HEADER = "Gatherer-Path"
_PATH = re.compile(r"^masters/date=\d{4}-\d{2}-\d{2}/[a-z]+\.parquet$")


def _state_path(root: Path) -> Path:
    return root / "state" / "masters.publish.json"


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _unsent(root: Path, done: dict[str, str]) -> list[tuple[str, str, bytes]]:
    """(path, sha256, bytes) of every master file whose content was not sent yet."""
    todo = []
    for path in sorted(root.glob("masters/date=*/*.parquet")):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        rel = path.relative_to(root).as_posix()
        if done.get(rel) != sha:
            todo.append((rel, sha, data))
    return todo


async def publish_masters(bus: BusConfig, root: Path, collector: str, closing: asyncio.Event) -> int:
    """Publish every master file not yet sent with its content; returns how many were sent."""
    state = _state_path(root)
    done: dict[str, str] = json.loads(state.read_text(encoding="utf-8")) if state.exists() else {}
    sent, backoff = 0, 0.5
    while True:
        todo = await asyncio.to_thread(_unsent, root, done)
        if not todo:
            return sent
        try:
            nc, js = await connect(bus.url, name=f"{collector}.{WORKER}")
            try:
                await ensure_stream(js, bus)
                for rel, sha, data in todo:
                    headers = {MSG_ID: f"{collector}.{WORKER}.{rel}.{sha[:16]}", PATH_HEADER: rel}
                    await js.publish(f"{bus.subject_prefix}.{collector}.{WORKER}", data, headers=headers,
                                     timeout=bus.ack_timeout_s)  # fmt: skip
                    done[rel] = sha
                    sent += 1
                    _write_json(state, done)
            finally:
                with contextlib.suppress(*BusError):
                    await asyncio.wait_for(nc.close(), 2)
        except BusError as exc:
            log.warning("masters not published yet (bus: %r); again in %.1f s", exc, backoff)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(closing.wait(), backoff)
            if closing.is_set():
                log.warning("masters left unpublished until the next run: %s", [t[0] for t in todo])
                return sent
            backoff = min(backoff * 2, 10.0)


def store_master(root: Path, rel: str | None, data: bytes) -> bool:
    """The sink's side: write a published master to ``root/rel`` (atomically); False (and a log line)
    for a path that is not a master's."""
    if rel is None or not _PATH.match(rel):
        log.error("bus: a masters message with path %r; not stored", rel)
        return False
    write_durable(root / rel, data)
    return True


__all__ = ["PATH_HEADER", "WORKER", "publish_masters", "store_master"]
