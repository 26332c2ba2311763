"""The decode-and-store child process of a worker (``gatherer _store``): start it, tell it the
journal is closed, collect its figures.

Its standard input is a pipe from the parent: closing it (or the parent's death, even by kill -9)
means "drain the journal and exit", so it never outlives its worker. What it runs is
``run.pipeline.store_worker``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


async def start_store(
    root: Path,
    worker_id: str,
    venue: str,
    cutoffs: Mapping[str, dt.time],
    flush_s: float = 300.0,
    log_flags: Sequence[str] = (),
) -> asyncio.subprocess.Process:
    """The decode-and-store process for one worker's journal (``gatherer _store``).

    Its standard input is a pipe from us: closing it (or our death, even by kill -9) tells it
    to drain the journal and exit, so it never outlives the worker. It ignores the stop signals
    (``gatherer.__main__``) and runs in a session of its own, so neither Ctrl-C in the terminal nor
    a SIGTERM sent to every process by systemd cuts it short before it has written its Parquet.
    """
    encoded = json.dumps({m: t.strftime("%H:%M") for m, t in cutoffs.items()})
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "_store", *log_flags, "--root", str(root), "--worker", worker_id,
        "--venue", venue, "--cutoffs", encoded, "--flush-s", str(flush_s),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


async def finish_store(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    """Tell the store the journal is closed, wait for it to drain, and return its figures
    (``{"failed": exit status}`` if it did not finish)."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    out = await proc.stdout.read()
    code = await proc.wait()
    if code != 0:
        return {"failed": code}
    lines = out.decode().strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return report


async def drain_store(
    root: Path, worker_id: str, venue: str, cutoffs: Mapping[str, dt.time], log_flags: Sequence[str] = ()
) -> dict[str, Any]:
    """Run a store over the journal as it stands: it resumes after the checkpoint, writes every record
    there is into Parquet and exits. For a journal whose own store did not finish."""
    figures = await finish_store(await start_store(root, worker_id, venue, cutoffs, log_flags=log_flags))
    if "failed" in figures:
        log.error(
            "%s: the decode-and-store process failed (exit %s); the journal is intact:"
            " `gatherer rebuild --date D` writes the day's Parquet from it",
            worker_id, figures["failed"],
        )  # fmt: skip
    return figures
