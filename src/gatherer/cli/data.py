"""The recorded data and the venue's reference data on the command line: ``rebuild`` regenerates
a day's Parquet from its journal, ``report`` and ``ledger`` account for a day's coverage and
gaps, ``backfill`` fetches missing trades over REST, ``query`` and ``export`` read the Parquet
lake, ``sessions`` prints trading hours, ``symbols`` a market's symbol master and ``config check``
the effective configuration.

Each command runs one job, prints what it did and exits; none starts a recording, and none prints
a secret (``config check`` says only whether the credentials are in the environment).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.table import Table

from gatherer import __version__
from gatherer.cli.common import AddCommand, _parse_day, _root_and_cutoffs, add_day_args, console, out
from gatherer.errors import GathererError


def add_symbols(add: AddCommand) -> None:
    from gatherer.config import MARKETS

    y = add("symbols", help="print a market's symbol master from the venue")
    y.add_argument("--market", required=True, choices=MARKETS)
    y.add_argument("--config", help="TOML config; its [venue] says where to ask (default: LS's servers)")
    y.add_argument("--format", choices=("table", "csv", "json"), default="table")
    y.add_argument("--limit", type=int, default=20, help="rows shown in the table (0 = all)")
    y.set_defaults(func=_symbols)


def add_rebuild(add: AddCommand) -> None:
    rb = add("rebuild", help="regenerate a day's Parquet and quarantine from its journal")
    add_day_args(rb, "TOML config (for storage.root and the cutoffs)")
    rb.add_argument(
        "--processes", type=int, default=None, metavar="N",
        help="rebuild up to N workers' journals at once (default: one process per core)",
    )  # fmt: skip
    rb.add_argument(
        "--force", action="store_true", help="rebuild a sealed day (then seal it again with a new manifest)"
    )
    rb.set_defaults(func=_rebuild)


def add_report(add: AddCommand) -> None:
    rp = add("report", help="a day's coverage, gaps, refusals and quarantine: text, HTML with plots, or JSON")
    add_day_args(rp)
    rp.add_argument("--limit", type=int, default=20, help="entries listed per section")
    rp.add_argument(
        "--format", choices=("text", "html", "json"), default="text",
        help="html: one self-contained page with plots, the quality score and the file list",
    )  # fmt: skip
    rp.add_argument("--out", help="write to this file instead of standard output")
    rp.set_defaults(func=_report)


def add_ledger(add: AddCommand) -> None:
    lg = add("ledger", help="write a day's coverage ledger and gap rows (ledger/date=D/*.parquet)")
    add_day_args(lg)
    lg.set_defaults(func=_ledger)


def add_backfill(add: AddCommand) -> None:
    bf = add("backfill", help="fetch a day's missing trades over REST now (gatherer run does this by itself)")
    bf.add_argument(
        "--date", required=True, help="trading day: YYYY-MM-DD, today or yesterday (LS serves today's only)"
    )
    bf.add_argument("--config", required=True, help="TOML config (venue URLs, storage.root)")
    bf.set_defaults(func=_backfill)


def add_sessions(add: AddCommand) -> None:
    ss = add("sessions", help="when each market trades on a date, in Seoul time")
    ss.add_argument("--date", default="today", help="a Seoul date: YYYY-MM-DD, today (default) or yesterday")
    ss.add_argument("--json", action="store_true", help="a JSON list of {market, product, start, end}")
    ss.add_argument("--config", help="TOML config: its markets and products (default: all)")
    ss.set_defaults(func=_sessions)


def add_query(add: AddCommand) -> None:
    q = add("query", help="run SQL (DuckDB) over the Parquet lake: views book, trade, broker, masters…")
    q.add_argument(
        "sql", help='e.g. "select symbol, count(*) from trade group by 1 order by 2 desc limit 10"'
    )
    q.add_argument("--config", help="TOML config (for storage.root)")
    q.add_argument("--root", help="data root (default: the config's storage.root, or ./data)")
    q.add_argument("--format", choices=("table", "csv"), default="table")
    q.add_argument("--limit", type=int, default=50, help="rows shown in the table (0 = all)")
    q.set_defaults(func=_query)


def add_export(add: AddCommand) -> None:
    from gatherer.config import MARKETS

    e = add("export", help="one day/market/channel as CSV (the original tool's columns) or Parquet")
    e.add_argument("--date", required=True, help="trading day: YYYY-MM-DD, today or yesterday")
    e.add_argument("--market", required=True, choices=MARKETS)
    e.add_argument("--channel", required=True, help="book, trade, broker, …")
    e.add_argument("--format", choices=("csv", "parquet"), default="csv")
    e.add_argument("--encoding", choices=("utf-8", "cp949"), default="utf-8", help="CSV text encoding")
    e.add_argument("--symbols", nargs="*", help="only these codes")
    e.add_argument("--header", action="store_true", help="write a header row (the original tool did not)")
    e.add_argument("--out", help="output file (default DATE_MARKET_CHANNEL.FORMAT)")
    e.add_argument("--config", help="TOML config (for storage.root)")
    e.add_argument("--root", help="data root (default: the config's storage.root, or ./data)")
    e.set_defaults(func=_export)


def add_config(add: AddCommand, common: argparse.ArgumentParser) -> None:
    """``config check``, with ``common`` (``-v``, ``--log-file``) as its parent."""
    c = add("config", help="configuration tools")
    csub = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    cc = csub.add_parser(
        "check", parents=[common], help="validate a config and print it with defaults filled in"
    )
    cc.add_argument("config", nargs="?", help="path of the TOML file")
    cc.add_argument("--config", dest="config_flag", metavar="CONFIG", help="the same path, as a flag")
    cc.set_defaults(func=_config_check)


async def _symbols(args: argparse.Namespace) -> int:
    from gatherer.config import Config, load_config
    from gatherer.venues.ls.auth import credentials_from_env
    from gatherer.venues.ls.masters import fetch_master
    from gatherer.venues.ls.rest import RestClient

    cfg = load_config(args.config) if args.config else Config()
    credentials = credentials_from_env(os.environ)
    async with RestClient.open(cfg.venue.rest_url, credentials) as client:
        table = await fetch_master(client, args.market)
    if args.format == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sys.stdout.buffer)
        return 0
    rows = table.to_pylist()
    if args.format == "json":
        for row in rows:
            out.print(json.dumps(row, ensure_ascii=False, default=str), highlight=False, soft_wrap=True)
        return 0
    shown = rows[: args.limit] if args.limit else rows
    view = Table(title=f"{args.market}: {table.num_rows:,} instruments", show_lines=False)
    columns = [c for c in table.column_names if c != "market"][:8]
    for c in columns:
        view.add_column(c)
    for row in shown:
        view.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    out.print(view)
    if len(shown) < len(rows):
        console.print(
            f"showing {len(shown)} of {len(rows):,}; --limit 0 shows all, --format csv for everything"
        )
    return 0


async def _config_check(args: argparse.Namespace) -> int:
    from gatherer.config import effective, load_config
    from gatherer.venues.ls.auth import credentials_from_env

    path = args.config_flag or args.config
    if path is None:
        raise GathererError("config check: give the config file, e.g. `gatherer config check gatherer.toml`")
    cfg = load_config(path)
    out.print_json(data=effective(cfg))
    try:
        credentials_from_env(os.environ)
        console.print("credentials: found in the environment (not shown)")
    except GathererError as exc:
        console.print(f"credentials: {exc}")
    return 0


@contextlib.contextmanager
def _bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on the terminal (nothing otherwise), moved by ``tick(done, of)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)

        def tick(done: int, of: int) -> None:
            bar.update(task, completed=done, total=of)

        yield tick


async def _rebuild(args: argparse.Namespace) -> int:
    if args.processes is not None and args.processes < 1:
        raise GathererError(f"--processes {args.processes}: give 1 or more")
    if (args.processes or os.cpu_count() or 1) > 1:
        from gatherer.run.rebuild_jobs import start_helpers

        start_helpers()  # the rebuild processes' fork server imports the store while this loads the rest

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from gatherer.run.pipeline import rebuild_day

    root, cutoffs = _root_and_cutoffs(args.config, args.root)
    day = _parse_day(args.date)
    sealed = _sealed_check(Path(root), day, force=args.force)
    console.print(f"rebuilding {day} under {root} from its journal")
    columns = (
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[records]:>12,} records"),
        TextColumn("{task.fields[rate]:>9,.0f}/s"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("journal", total=None, records=0, rate=0.0)
        started = time.monotonic()

        def progress(done: int, total: int, records: int) -> None:
            rate = records / max(1e-9, time.monotonic() - started)
            bar.update(task, completed=done, total=total, records=records, rate=rate)

        report = await asyncio.to_thread(
            rebuild_day, root, day, version=__version__, cutoffs=cutoffs, processes=args.processes,
            progress=progress,
        )  # fmt: skip
    out.print(
        f"{day}: {report.rows:,} rows in {report.files} file(s) from worker(s) {', '.join(report.workers)};"
        f" {report.quarantined:,} frame(s) quarantined; {len(report.damage)} damaged journal block(s)"
        + (f"; {report.rows_outside_day:,} rows belong to another day (per-market cutoff, or the"
           " day session of an evening read for its night session)"
           if report.rows_outside_day else "")
    )  # fmt: skip
    rate = report.records / max(1e-9, report.seconds)
    out.print(
        f"read {report.records:,} journal records in {report.seconds:.1f} s: {rate:,.0f} records/s"
        f" with {report.processes} process(es)"
    )
    if sealed:
        from gatherer.seal import seal_day

        manifest = seal_day(Path(root), day, now=dt.datetime.now(dt.UTC), version=__version__)
        out.print(f"{day}: sealed again, {len(manifest.files):,} file(s) in the new manifest")
    return 0


def _sealed_check(root: Path, day: dt.date, *, force: bool) -> bool:
    """Whether ``day`` is sealed; refuses a sealed day without ``--force``, and unseals it with it."""
    from gatherer.seal import is_sealed, manifest_path, unseal_day

    if not is_sealed(root, day):
        return False
    if not force:
        raise GathererError(
            f"{day} is sealed ({manifest_path(root, day)}); rebuilding would change its files."
            f" `gatherer verify --date {day}` checks them; `gatherer rebuild --date {day} --force`"
            " rebuilds anyway and writes a new manifest"
        )
    console.print(f"{day} is sealed: --force given, unsealing it for the rebuild")
    unseal_day(root, day)
    return True


def _journal_day(args: argparse.Namespace) -> tuple[Path, dt.date]:
    """The data root and ``--date`` of a command that reads a recorded day; an error if it has no journal."""
    root, _ = _root_and_cutoffs(args.config, args.root)
    day = _parse_day(args.date)
    if not (Path(root) / "journal" / f"date={day}").is_dir():
        raise GathererError(f"no journal for {day} under {root}; see `ls {root}/journal`")
    return Path(root), day


async def _report(args: argparse.Namespace) -> int:
    from gatherer.ops.report import build_report, render

    root, day = _journal_day(args)
    report = await asyncio.to_thread(build_report, root, day)
    if args.format == "text":
        text = render(report, limit=args.limit)
    else:
        from gatherer.ops.html import gather, render_html, render_json

        data = await asyncio.to_thread(gather, root, report)
        text = (
            render_json(data)
            if args.format == "json"
            else render_html(data, version=__version__, limit=args.limit)
        )
    if args.out:
        await asyncio.to_thread(Path(args.out).write_text, text + "\n", encoding="utf-8")
        console.print(f"{day}: {args.format} report written to {args.out}", highlight=False)
    else:
        print(text, flush=True)
    return 0


async def _ledger(args: argparse.Namespace) -> int:
    from gatherer.ledger import write_ledger
    from gatherer.ledger.day import ledger_dir

    root, day = _journal_day(args)
    with console.status(f"writing the ledger of {day} from its journal", spinner="dots"):
        ledger = await asyncio.to_thread(write_ledger, root, day)
    kinds = Counter(g.kind for g in ledger.gaps)
    out.print(
        f"{day}: {len(ledger.coverage):,} (TR, key) in coverage.parquet, {kinds['outage']} outage row(s) and"
        f" {kinds['volume']} volume gap(s) in gaps.parquet, under {ledger_dir(root, day)}"
    )
    return 0


async def _backfill(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gatherer.clock import SystemClock
    from gatherer.config import load_config
    from gatherer.ledger import write_ledger
    from gatherer.ledger.backfill import Backfiller
    from gatherer.run.prepare import rest_client
    from gatherer.venues.ls.auth import credentials_from_env

    cfg = load_config(args.config)
    day = _parse_day(args.date)
    root = Path(cfg.storage.root)
    clock = SystemClock()
    async with rest_client(cfg, credentials_from_env(os.environ), clock) as client:
        with _bar("backfill: gaps") as tick:
            backfiller = Backfiller(root, client, clock, max_pages=cfg.backfill.max_pages)
            stats = await backfiller.run_pass(day, on_gap=tick)
    with console.status(f"writing the ledger of {day}", spinner="dots"):
        await asyncio.to_thread(write_ledger, root, day)
    done = ", ".join(f"{n} {s}" for s, n in sorted(stats.by_status.items())) or "nothing new"
    out.print(f"{day}: {stats.gaps} gap(s), {stats.tried} tried ({done}), {stats.deferred} deferred")
    return 1 if stats.deferred else 0


async def _sessions(args: argparse.Namespace) -> int:
    from gatherer.clock import SystemClock
    from gatherer.ops.sessions import sessions_command

    now_ns = SystemClock().time_ns()
    text = await asyncio.to_thread(sessions_command, args.date, args.config, now_ns, as_json=args.json)
    print(text, flush=True)
    return 0


async def _query(args: argparse.Namespace) -> int:
    from gatherer.ops.query import run_query

    root, _ = _root_and_cutoffs(args.config, args.root)
    table = await asyncio.to_thread(run_query, root, args.sql)
    if args.format == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sys.stdout.buffer)
        return 0
    rows = table.slice(0, args.limit or None).to_pylist()
    if len(table.column_names) > 8:
        # Too wide for a table: one "column: value" block per row, as psql's \x does.
        width = max(map(len, table.column_names))
        for i, row in enumerate(rows, 1):
            out.print(f"[bold]-- row {i} of {table.num_rows:,}[/]")
            for name, value in row.items():
                out.print(f"{name:<{width}}  {'' if value is None else value}", highlight=False)
        return 0
    view = Table(title=f"{table.num_rows:,} row(s)")
    for name in table.column_names:
        view.add_column(name)
    for row in rows:
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(view)
    return 0


async def _export(args: argparse.Namespace) -> int:
    from gatherer.ops.query import export

    root, _ = _root_and_cutoffs(args.config, args.root)
    day = _parse_day(args.date)
    target = args.out or f"{day}_{args.market}_{args.channel}.{args.format}"
    with console.status(f"exporting {args.market} {args.channel} of {day} to {target}", spinner="dots"):
        n = await asyncio.to_thread(
            export, root, day, args.market, args.channel, args.format, target,
            encoding=args.encoding, symbols=args.symbols, header=args.header,
        )  # fmt: skip
    console.print(f"{n:,} rows written to {target}")
    return 0
