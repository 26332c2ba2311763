"""The supervisor's status service: samples the run's picture every second and, when the config has
``[status] listen``, serves it (``ops.status_page``: the page, ``/metrics``, ``/healthz``).

The picture comes from the workers' and stores' status files (``run.status_files``) and from what
the supervisor knows, handed over as ``ops.picture.RunFacts`` by a function of the supervisor. The
page's address is written to ``state/status.json`` (``{"url", "pid"}``, removed at the stop) so
that `gatherer status` finds it, whichever port was chosen. Observation only: a failure here is
logged and never stops the recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gatherer.config import Config
from gatherer.errors import ConfigError, GathererError
from gatherer.logs import PROGRESS
from gatherer.ops.picture import Observer, Picture, RunFacts
from gatherer.ops.status_page import StatusPage, required_token, split_listen
from gatherer.run.status_files import RecentErrors

if TYPE_CHECKING:
    from gatherer.run.supervisor import SupervisorResult
    from gatherer.run.workers import WorkerHandle

log = logging.getLogger(__name__)

SAMPLE_S = 1.0
"""How often (real seconds) the picture is made again."""


def status_file(root: Path) -> Path:
    return root / "state" / "status.json"


class StatusService:
    def __init__(self, cfg: Config, root: Path, facts: Callable[[], RunFacts]) -> None:
        self.cfg = cfg
        self.root = root
        self.facts = facts
        self.observer = Observer(root)
        self.page: StatusPage | None = None
        self.url: str | None = None

    @property
    def latest(self) -> Picture | None:
        return self.observer.latest

    def check(self) -> str | None:
        """Before anything starts: the token a non-loopback ``listen`` needs (ConfigError if missing)."""
        listen = self.cfg.status.listen
        return required_token(listen, dict(os.environ)) if listen else None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve (if configured) and sample until ``stop``; then close the listener."""
        # A previous run's status files would count into this run's totals: this run holds the root.
        for old in (self.root / "state").glob("*.status.json"):
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        listen = self.cfg.status.listen
        if listen:
            self.page = StatusPage(
                lambda: self.observer.latest, lambda: list(self.observer.history), token=self.check()
            )
            try:
                self.url = await self.page.start(*split_listen(listen))
            except ConfigError as exc:  # e.g. the port is taken: record anyway, say so now
                log.error("the status page is not served: %s", exc)
                self.page = None
        if self.page is not None and self.url is not None:
            path = status_file(self.root)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps({"url": self.url, "pid": os.getpid()}), encoding="utf-8")
            os.replace(tmp, path)
            logging.getLogger(PROGRESS).info(f"status page at {self.url} (/metrics, /healthz)")
        try:
            while not stop.is_set():
                try:
                    self.observer.sample(self.facts())  # a few small files: quick, and no thread shares it
                except (OSError, ValueError) as exc:  # observation must never stop the run
                    log.warning("status: could not read the run's figures: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), SAMPLE_S)
        finally:
            if self.page is not None:
                await self.page.stop()
                with contextlib.suppress(FileNotFoundError):
                    status_file(self.root).unlink()


@contextlib.asynccontextmanager
async def watching(service: StatusService, errors: logging.Handler) -> AsyncIterator[None]:
    """The status service runs, and this process's warnings are kept for it (``errors``), while
    this lasts; a failure of the service is logged, never raised: the recording is what counts."""
    done = asyncio.Event()
    logging.getLogger().addHandler(errors)
    task = asyncio.create_task(service.run(done), name="status")
    try:
        yield
    finally:
        done.set()
        logging.getLogger().removeHandler(errors)
        try:
            await task
        except (OSError, GathererError) as exc:
            log.error("the status service failed: %s", exc)


def run_facts(
    result: SupervisorResult,
    handles: Sequence[WorkerHandle],
    token_expiry_ns: Mapping[int, int],
    errors: RecentErrors,
    now_ns: int,
) -> RunFacts:
    """What the supervisor knows (its worker processes, plan, tokens, backfill passes, its own
    warnings) as ``ops.picture.RunFacts``."""
    processes, pids = {}, {}
    for h in handles:
        running = h.proc is not None and h.proc.returncode is None
        processes[h.spec.worker_id] = "running" if running else "restarting" if h.starts else "starting"
        if h.proc is not None and running:
            pids[h.spec.worker_id] = h.proc.pid
    backfill: dict[str, int] = {"passes": len(result.backfill)}
    for p in result.backfill:
        backfill["tried"] = backfill.get("tried", 0) + p.tried
        for status, n in p.by_status.items():
            backfill[status] = backfill.get(status, 0) + n
    backfill["deferred"] = result.backfill[-1].deferred if result.backfill else 0
    return RunFacts(
        started_ns=result.started_ns,
        now_ns=now_ns,
        processes=processes,
        pids=pids,
        registrations=result.plan.placed if result.plan is not None else 0,
        restarts=result.restarts,
        tokens=dict(token_expiry_ns),
        backfill=backfill,
        errors=list(errors.items),
    )


__all__ = ["StatusService", "run_facts", "status_file", "watching"]
