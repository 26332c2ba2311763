"""A finished day on the command line: ``seal`` writes its manifest and makes its files read-only,
``verify`` checks them against it (exit 1 naming each file that changed, went missing or appeared),
``quality`` scores the day's completeness against the venue's own end-of-day volumes.
``gatherer run --schedule`` seals each day by itself; ``gatherer rebuild`` of a sealed day asks for
``--force`` and seals it again.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from typing import TYPE_CHECKING

from gatherer.cli.common import AddCommand, _parse_day, _root_and_cutoffs, add_day_args, console, out
from gatherer.errors import GathererError

if TYPE_CHECKING:
    from gatherer.clock import Clock
    from gatherer.config import Config
    from gatherer.ledger.quality import QualityRow
    from gatherer.venues.ls.auth import Credentials


def _say(text: str) -> None:
    """A result line on standard output, never wrapped (it is read by scripts too)."""
    out.print(text, highlight=False, soft_wrap=True)


def add_seal(add: AddCommand) -> None:
    s = add("seal", help="write a day's manifest (every file, rows, SHA-256) and make its files read-only")
    add_day_args(s)
    s.set_defaults(func=_seal)


def add_verify(add: AddCommand) -> None:
    v = add("verify", help="check a sealed day's files against its manifest; exit 1 if any differ")
    add_day_args(v)
    v.set_defaults(func=_verify)


def add_quality(add: AddCommand) -> None:
    q = add("quality", help="score a day's completeness against the venue's volumes (quality/date=D/)")
    q.add_argument("--date", required=True, help="trading day: YYYY-MM-DD, today or yesterday")
    q.add_argument("--config", required=True, help="TOML config (venue URLs, storage.root)")
    q.add_argument(
        "--offline", action="store_true", help="do not ask the venue (no end-of-day volumes, no volume score)"
    )
    q.add_argument("--clock", metavar="SPEC", help="a simulator's clock (`gatherer sim` prints it)")
    q.add_argument("--force", action="store_true", help="score a sealed day again (then seal it again)")
    q.set_defaults(func=_quality)


async def quality_of_day(
    cfg: Config, credentials: Credentials | None, day: dt.date, clock: Clock
) -> list[QualityRow]:
    """Score ``day``: with ``credentials``, the venue's end-of-day volumes over REST first."""
    from pathlib import Path

    from gatherer.ledger.assess import assess_day
    from gatherer.run.prepare import rest_client

    root = Path(cfg.storage.root)
    if credentials is None:
        return (await assess_day(root, day, None))[1]
    async with rest_client(cfg, credentials, clock) as client:
        return (await assess_day(root, day, client, say=console.print))[1]


async def _quality(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from gatherer import __version__
    from gatherer.cli.common import _clock_of
    from gatherer.clock import SystemClock
    from gatherer.config import load_config
    from gatherer.ledger.quality import quality_path
    from gatherer.seal import is_sealed, seal_day, unseal_day
    from gatherer.venues.ls.auth import credentials_from_env

    cfg = load_config(args.config)
    day = _parse_day(args.date)
    root = Path(cfg.storage.root)
    sealed = is_sealed(root, day)
    if sealed and not args.force:
        raise GathererError(
            f"{day} is sealed; its quality file is part of the manifest."
            f" `gatherer quality --date {day} --force` scores it again and seals it again"
        )
    credentials = None if args.offline else credentials_from_env(os.environ)
    if sealed:
        await asyncio.to_thread(unseal_day, root, day)
    rows = await quality_of_day(cfg, credentials, day, _clock_of(args.clock) or SystemClock())
    from gatherer.ops.html import quality_line

    for r in rows:
        if r.symbol == "":
            _say(quality_line(r))
    _say(f"{day}: {len(rows):,} row(s) in {quality_path(root, day)}")
    if sealed:
        await asyncio.to_thread(seal_day, root, day, now=dt.datetime.now(dt.UTC), version=__version__)
        _say(f"{day}: sealed again with the new quality file")
    return 0


async def _seal(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gatherer import __version__
    from gatherer.seal import manifest_path, seal_day

    root = Path(_root_and_cutoffs(args.config, args.root)[0])
    day = _parse_day(args.date)
    now = dt.datetime.now(dt.UTC)
    manifest = await asyncio.to_thread(seal_day, root, day, now=now, version=__version__)
    size = sum(e.size for e in manifest.files)
    out.print(
        f"{day}: sealed {len(manifest.files):,} file(s), {size / 1e6:,.2f} MB, in {manifest_path(root, day)}",
        highlight=False,
    )
    return 0


async def _verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gatherer.seal import verify_day

    root = Path(_root_and_cutoffs(args.config, args.root)[0])
    day = _parse_day(args.date)
    manifest, problems = await asyncio.to_thread(verify_day, root, day)
    for p in problems:
        _say(f"{p.what:<8} {p.path}" + (f" ({p.detail})" if p.detail else ""))
    if problems:
        console.print(
            f"{day}: {len(problems)} of the manifest's {len(manifest.files):,} file(s) differ"
            f" (sealed {manifest.sealed_at})",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    _say(f"{day}: all {len(manifest.files):,} file(s) match the manifest")
    return 0
