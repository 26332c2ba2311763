"""``gatherer status [--json]``: the running collector's picture in the terminal.

It asks the collector's status page (its address is in ``state/status.json`` while it serves one;
``GATHERER_STATUS_TOKEN`` is sent when set). Without a page it reads the workers' and stores'
status files itself, so long as a run holds ``state/run.lock``; with no run, it says so and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from gatherer.cli.common import AddCommand, _root_and_cutoffs, console, out
from gatherer.errors import GathererError


def add_status(add: AddCommand) -> None:
    s = add("status", help="print what the running collector is doing (frames/s, lag, connections, health)")
    s.add_argument("--config", help="the run's TOML file (for its storage root)")
    s.add_argument("--root", help="the run's storage root (default: the config's, else ./data)")
    s.add_argument("--json", action="store_true", help="print the picture as JSON")
    s.set_defaults(func=_status)


class NoCollector(Exception):
    """No run records into this root."""


def _run_holds(root: Path) -> bool:
    """True while a `gatherer run` holds ``state/run.lock`` (flock: gone with its process)."""
    path = root / "state" / "run.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


async def _from_page(url: str) -> dict[str, Any] | None:
    import aiohttp

    from gatherer.ops.status_page import TOKEN_ENV

    token = os.environ.get(TOKEN_ENV)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(url + "api/status", headers=headers) as resp,
        ):
            if resp.status == 401:
                raise GathererError(f"the status page at {url} wants its token: export {TOKEN_ENV}")
            if resp.status != 200:
                return None
            data: dict[str, Any] = await resp.json()
            return data
    except (aiohttp.ClientError, TimeoutError):
        return None


def _from_files(root: Path) -> dict[str, Any]:
    import msgspec

    from gatherer.ops.picture import STALE_S, Observer, RunFacts
    from gatherer.ops.snapshot import read_statuses

    workers, _stores = read_statuses(root)
    now = time.time()
    processes = {w: "running" if now - s.updated_s <= STALE_S else "silent" for w, s in workers.items()}
    picture = Observer(root).sample(RunFacts(processes=processes))
    data: dict[str, Any] = json.loads(msgspec.json.encode(picture))  # as the page would send it
    return data


async def picture_of(root: Path) -> dict[str, Any]:
    page = root / "state" / "status.json"
    if page.exists():
        url = json.loads(page.read_text(encoding="utf-8"))["url"]
        data = await _from_page(url)
        if data is not None:
            return data
    if not _run_holds(root):
        raise NoCollector(
            f"no collector is running under {root} (nobody holds {root / 'state' / 'run.lock'});"
            " start one with `gatherer run --config FILE`"
        )
    return await asyncio.to_thread(_from_files, root)


async def _status(args: argparse.Namespace) -> int:
    import msgspec

    from gatherer.ops.picture import Picture
    from gatherer.ops.status_text import full

    root = Path(_root_and_cutoffs(args.config, args.root)[0])
    try:
        data = await picture_of(root)
    except NoCollector as exc:
        console.print(str(exc), markup=False, highlight=False)
        return 1
    if args.json:
        print(json.dumps(data, indent=1), flush=True)
        return 0
    out.print(full(msgspec.convert(data, Picture)))
    return 0


__all__ = ["add_status", "picture_of"]
