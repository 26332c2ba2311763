"""Looking into journal files: ``journal verify`` checks every block and record and exits 1 if
anything is damaged, ``journal cat`` prints one JSON line per record.

Both only read: they never repair, truncate or rewrite a segment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from gatherer.cli.common import AddCommand, console, out
from gatherer.errors import GathererError


def add_journal(add: AddCommand, common: argparse.ArgumentParser) -> None:
    """``journal verify`` and ``journal cat``, each with ``common`` (``-v``, ``--log-file``) as parent."""
    j = add("journal", help="look into journal files")
    jsub = j.add_subparsers(dest="action", required=True, metavar="ACTION")
    jv = jsub.add_parser(
        "verify", parents=[common], help="check every block and record; exit 1 if anything is damaged"
    )
    jv.add_argument("path", help="a segment file or a directory of them")
    jv.set_defaults(func=_journal_verify)
    jc = jsub.add_parser("cat", parents=[common], help="one JSON line per record")
    jc.add_argument("path", help="a segment file or a directory of them")
    jc.add_argument("--tr", help="only frames of this TR, e.g. H1_")
    jc.set_defaults(func=_journal_cat)


async def _journal_verify(args: argparse.Namespace) -> int:
    from gatherer.capture import verify

    if not await asyncio.to_thread(Path(args.path).exists):
        raise GathererError(
            f"{args.path}: no such file or directory; give a journal segment or a day's directory,"
            " e.g. data/journal/date=2026-11-25"
        )
    report = await asyncio.to_thread(verify, args.path)
    out.print(
        f"{report.segments} segment(s), {report.blocks:,} blocks, {report.records:,} records, "
        f"{report.bytes_on_disk / 1e6:,.2f} MB on disk ({report.raw_bytes / 1e6:,.2f} MB raw)"
    )
    for d in (*report.corrupt, *report.torn_tails):
        lost = "an unknown number of" if d.records_lost is None else f"{d.records_lost:,}"
        out.print(
            f"[red]damaged[/]: {d.path} at byte {d.offset:,}"
            f" ({d.length:,} bytes, {lost} records): {d.reason}",
            highlight=False,
        )
    for bad in report.bad_headers:
        out.print(f"[red]bad header[/]: {bad}", highlight=False)
    if not report.ok:
        console.print("the journal is damaged: the records listed above cannot be read; the rest can")
    return 0 if report.ok else 1


async def _journal_cat(args: argparse.Namespace) -> int:
    from gatherer.ops.journal import cat

    write = sys.stdout.write
    for item in cat(args.path, tr=args.tr):
        write(json.dumps(item, ensure_ascii=False) + "\n")
    return 0
