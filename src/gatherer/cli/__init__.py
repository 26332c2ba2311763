"""The ``gatherer`` command line: the only place that calls ``asyncio.run``.

Each subcommand parses its flags, builds what it needs and runs one coroutine. Bad
input ends with a one-line message naming what was wrong and what to do, and exit
status 2; nothing prints a secret. This module builds the parser and runs the chosen
command; the commands live in one module per group (``run``, ``sim``, ``data``,
``journal``, ``internal``), their shared helpers in ``common``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence

from gatherer import __version__
from gatherer.cli import bus, data, days, internal, journal, probe, run, sim, status
from gatherer.cli.common import _run_loop, console
from gatherer.errors import GathererError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gatherer", description="Record the Korean market from the LS Open API.")
    p.add_argument("--version", action="version", version=f"gatherer {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    p.add_argument("--log-file", metavar="PATH", help="also append log lines to PATH (reopened if rotated)")
    # The same two flags after the subcommand (`gatherer run -v`), where people put them.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        dest="verbose_after",
        action="count",
        default=0,
        help="more logging (-vv for debug)",
    )
    common.add_argument(
        "--log-file", dest="log_file_after", metavar="PATH", help="also append log lines to PATH"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = functools.partial(sub.add_parser, parents=[common])

    # In the order `gatherer --help` lists them.
    sim.add_sim(add)
    sim.add_fault(add)
    data.add_symbols(add)
    run.add_run(add)
    run.add_plan(add)
    probe.add_probe(add)
    run.add_demo(add)
    status.add_status(add)
    sim.add_replay(add)
    journal.add_journal(add, common)
    data.add_rebuild(add)
    data.add_report(add)
    days.add_quality(add)
    days.add_seal(add)
    days.add_verify(add)
    data.add_ledger(add)
    data.add_backfill(add)
    data.add_sessions(add)
    data.add_query(add)
    data.add_export(add)
    bus.add_sink(add)
    internal.add_worker(add)
    internal.add_store(add)
    bus.add_publish(add)
    data.add_config(add, common)
    return p


_PROCESS_NAMES = {"run": "supervisor", "demo": "supervisor", "sim": "sim", "replay": "replay"}


def main(argv: Sequence[str] | None = None) -> int:
    from gatherer.logs import configure

    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose = args.verbose + args.verbose_after
    args.log_file = args.log_file_after or args.log_file
    name = getattr(args, "process_name", None) or _PROCESS_NAMES.get(args.command, "gatherer")
    if name in ("store", "publish"):
        name = f"{args.worker}/{name}"
    try:
        configure(args.verbose, process_name=name, log_file=args.log_file)
    except OSError as exc:
        console.print(f"[bold red]error:[/] --log-file {args.log_file}: {exc.strerror}", highlight=False)
        return 2
    try:
        if getattr(args, "sync", False):
            return int(args.func(args))
        return _run_loop(args.func(args))
    except GathererError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`| head`): not an error of ours.
        sys.stderr.close()
        return 0
