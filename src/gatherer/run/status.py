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
from collections.abc import Callable
from pathlib import Path

from gatherer.config import Config
from gatherer.ops.picture import Observer, Picture, RunFacts
from gatherer.ops.status_page import StatusPage, required_token, split_listen

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
        listen = self.cfg.status.listen
        if listen:
            self.page = StatusPage(
                lambda: self.observer.latest, lambda: list(self.observer.history), token=self.check()
            )
            self.url = await self.page.start(*split_listen(listen))
            path = status_file(self.root)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps({"url": self.url, "pid": os.getpid()}), encoding="utf-8")
            os.replace(tmp, path)
            log.info("status page at %s", self.url)
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


__all__ = ["StatusService", "status_file"]
