"""Recording on the command line: ``run`` records what the config selects until stopped, ``plan``
prints what it would subscribe and whether that fits the venue's limits, ``demo`` records from the
embedded simulator. After a run, the summary table: frames per market and channel, what the
connections did, and what reached the journal and Parquet.

The supervisor does the work; these commands only build its inputs, install the stop signals and
print. They never import the run stage at module level, so ``gatherer --help`` stays quick.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gatherer.cli.common import AddCommand, _clock_of, _demo_day, _stop_on_signals, console, out, progress
from gatherer.clock import SEOUL
from gatherer.errors import GathererError


def add_run(add: AddCommand) -> None:
    r = add("run", help="record what the config selects until stopped (SIGINT/SIGTERM) or --duration")
    r.add_argument("--config", required=True, help="path of the TOML file")
    r.add_argument("--duration", type=float, help="stop after this many seconds")
    r.add_argument("--workers", type=int, help="worker processes (default: [run] workers, else one per core)")
    r.add_argument(
        "--clock", metavar="SPEC",
        help="run on a simulator's clock (the `clock =` line `gatherer sim` prints); default: real time",
    )  # fmt: skip
    r.add_argument("--shard", metavar="K/N", help="record shard K of N of the universe (see plan --shards)")
    r.add_argument(
        "--schedule", action="store_true",
        help="every trading day by itself: wait for the opens, stop after the closes, seal each day"
        " (as [schedule] enabled = true)",
    )  # fmt: skip
    r.set_defaults(func=_run)


def add_plan(add: AddCommand) -> None:
    pl = add("plan", help="print what the config would subscribe and whether it fits the limits")
    pl.add_argument("--config", required=True, help="path of the TOML file")
    pl.add_argument(
        "--workers", type=int, help="worker processes (default: [run] workers, else one per core)"
    )
    pl.add_argument(
        "--app-keys", type=int, help="plan for this many app keys (default: those in the environment)"
    )
    pl.add_argument("--shard", metavar="K/N", help="plan only shard K of N of the universe")
    pl.add_argument("--shards", type=int, metavar="N", help="also show how N hosts would split the universe")
    pl.set_defaults(func=_plan)


def add_demo(add: AddCommand) -> None:
    d = add("demo", help="run the collector against the embedded simulator and print a summary")
    d.add_argument("--duration", type=float, default=30.0, help="seconds to record (default 30)")
    d.add_argument("--root", default="./demo-data", help="where to write (default ./demo-data)")
    d.add_argument("--symbols", type=int, default=20, help="symbols per market (default 20)")
    d.add_argument("--rate", type=float, default=3000.0, help="simulator frames/s at midday activity")
    d.set_defaults(func=_demo)


@dataclasses.dataclass
class _RunFigures:
    """What a run did, from the supervisor's worker reports or an in-process run."""

    root: Any
    started_ns: int
    ended_ns: int
    registrations: int
    connections: list[dict[str, Any]]
    first_seqs: dict[str, int]
    stores: list[dict[str, Any]]
    restarts: int = 0

    @classmethod
    def of_supervisor(cls, r: Any) -> _RunFigures:
        first: dict[str, int] = {}
        for rep in r.reports:
            first[rep.worker_id] = min(first.get(rep.worker_id, rep.first_seq), rep.first_seq)
        conns = [c for rep in r.reports for c in rep.connections]
        stores = []
        for w in r.workers:
            # A store that did not finish, then drained by the supervisor, counts by what the drain wrote.
            stores += [rep.store for rep in w.reports if w.drained is None or "failed" not in rep.store]
            stores += [w.drained] if w.drained is not None else []
        # What was registered: the plan's (the market-status feed and VI registrations it adds included).
        placed = r.plan.placed if r.plan is not None else len(r.registrations)
        return cls(r.root, r.started_ns, r.ended_ns, placed, conns, first, stores, r.restarts)


def _summary_table(fig: _RunFigures, title: str) -> Group:
    from gatherer.ops.summary import journal_dirs, summarize

    dirs = journal_dirs(fig.root, fig.started_ns, fig.ended_ns)
    summary = summarize(dirs, first_seqs=fig.first_seqs)
    seconds = max(1e-9, (fig.ended_ns - fig.started_ns) / 1e9)
    view = Table(title=title)
    for col in ("market", "channel", "frames", "frames/s", "MB received"):
        view.add_column(col, justify="left" if col in ("market", "channel") else "right")
    for (market, channel), n in sorted(summary.frames.items()):
        mb = summary.frame_bytes[(market, channel)] / 1e6
        view.add_row(market, channel, f"{n:,}", f"{n / seconds:,.0f}", f"{mb:,.2f}")
    total_mb = sum(summary.frame_bytes.values()) / 1e6
    view.add_row(
        "all", "", f"{summary.frames_total:,}", f"{summary.frames_total / seconds:,.0f}", f"{total_mb:,.2f}",
        style="bold",
    )  # fmt: skip
    files = [p for d in dirs for p in sorted(d.iterdir())]
    on_disk = sum(p.stat().st_size for p in files)
    conns = fig.connections

    def total(name: str) -> int:
        return sum(int(c.get(name, 0)) for c in conns)

    lines = [
        f"{total('frames'):,} messages received ({summary.acks:,} acks, "
        f"{summary.unknown} unreadable frames kept)",
        f"{fig.registrations:,} registrations on {len(conns)} connection(s): "
        f"{total('accepted'):,} acknowledged, {total('refused')} refused, "
        f"{total('unanswered')} unanswered, {total('reconnects')} reconnects"
        + (f", {fig.restarts} worker restart(s)" if fig.restarts else ""),
        f"journal: {len(files)} file(s), {on_disk / 1e6:,.2f} MB on disk in {fig.root / 'journal'}"
        + (f"; {len(summary.damage)} damaged block(s)!" if summary.damage else ""),
    ]
    stored = _store_caption(fig.stores, fig.root)
    # Below the table, one fact a line, at the terminal's width (a caption would wrap to the table's).
    return Group(view, Text("\n".join(lines + ([stored] if stored else []))))


def _store_caption(stores: list[dict[str, Any]], root: Any) -> str:
    if not stores:
        return ""
    failed = [s["failed"] for s in stores if "failed" in s]
    if failed:
        return f"decode-and-store FAILED (exit {failed[0]}): run `gatherer rebuild`"
    reasons: dict[str, int] = {}
    for s in stores:
        for k, v in s.get("quarantine_reasons", {}).items():
            reasons[k] = reasons.get(k, 0) + v
    listed = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
    rows = sum(s.get("rows", 0) for s in stores)
    n_files = sum(s.get("files", 0) for s in stores)
    quarantined = sum(s.get("quarantined", 0) for s in stores)
    return (
        f"Parquet: {rows:,} rows in {n_files} file(s) under {root / 'parquet'},"
        f" {quarantined} frame(s) quarantined" + (f" ({listed})" if listed else "")
    )


async def _run_supervised(
    args: argparse.Namespace,
    cfg: Any,
    credentials: list[Any],
    title: str,
    workers: int,
    clock: Any = None,
) -> int:
    """`gatherer run` and `gatherer demo`: the supervisor until stopped, then the summary.

    The first SIGINT, SIGTERM or SIGHUP stops the orderly way, a second one hurries (see
    ``Supervisor.run``); either way the exit status is 0 once every received frame is in Parquet."""
    from gatherer.cli.run_view import run_view
    from gatherer.logs import child_flags
    from gatherer.run.supervisor import Supervisor

    hurry = asyncio.Event()
    stop = _stop_on_signals(hurry)
    supervisor = Supervisor(
        cfg, credentials, workers=workers, progress=progress, clock=clock,
        log_flags=child_flags(args.verbose, args.log_file),
    )  # fmt: skip
    async with run_view(console, lambda: supervisor.status.latest):
        result = await supervisor.run(stop, duration_s=args.duration, hurry=hurry)
    out.print(_summary_table(_RunFigures.of_supervisor(result), title), soft_wrap=True)
    return 0


def _workers_of(cfg: Any, flag: int | None) -> int:
    from gatherer.run.workers import default_workers

    return flag or cfg.run.workers or default_workers()


def _with_shard(cfg: Any, shard: str | None) -> Any:
    """``--shard K/N`` over ``[run] shard``."""
    import msgspec

    from gatherer.plan.shard import parse_shard

    if shard is None:
        return cfg
    parse_shard(shard)
    return msgspec.structs.replace(cfg, run=msgspec.structs.replace(cfg.run, shard=shard))


async def _plan(args: argparse.Namespace) -> int:
    from gatherer.config import load_config
    from gatherer.run.supervisor import Supervisor
    from gatherer.venues.ls.auth import credentials_list_from_env

    cfg = _with_shard(load_config(args.config), args.shard)
    if not cfg.markets:
        raise GathererError(f"{args.config}: no [markets.*] table; nothing to plan")
    from gatherer.run.limits import with_measured_limits

    if args.shards is not None and args.shards < 1:
        raise GathererError(f"--shards {args.shards}: expected at least 1")
    cfg, said = with_measured_limits(cfg)
    console.print(said)
    credentials = credentials_list_from_env(os.environ)
    keys = args.app_keys or len(credentials)
    supervisor = Supervisor(
        cfg, credentials, workers=_workers_of(cfg, args.workers), progress=lambda m: console.print(m)
    )
    text, fits = await supervisor.dry_run(app_keys=keys, shards=args.shards)
    print(text, flush=True)
    return 0 if fits else 1


async def _run(args: argparse.Namespace) -> int:
    from gatherer.config import load_config
    from gatherer.venues.ls.auth import credentials_list_from_env

    cfg = _with_shard(load_config(args.config), args.shard)
    if not cfg.markets:
        raise GathererError(
            f"{args.config}: no [markets.*] table; nothing to record (see README, configuration)"
        )
    from gatherer.run.limits import with_measured_limits

    cfg, said = with_measured_limits(cfg)
    progress(said)
    credentials = credentials_list_from_env(os.environ)
    if args.schedule or cfg.schedule.enabled:
        from gatherer.cli.schedule import run_scheduled

        if args.duration is not None:
            raise GathererError("--duration and --schedule: choose one (a schedule stops after each close)")
        return await run_scheduled(
            args, cfg, credentials, _workers_of(cfg, args.workers), _clock_of(args.clock)
        )
    return await _run_supervised(
        args, cfg, credentials, "gatherer run", _workers_of(cfg, args.workers), _clock_of(args.clock)
    )


DEMO_REST_RATE_SCALE = 10.0
"""The demo's simulator and collector both allow 10x LS's REST rates, so masters load in seconds."""


async def _demo(args: argparse.Namespace) -> int:
    from gatherer.config import MARKETS, Config, MarketConfig, StorageConfig, VenueConfig
    from gatherer.sim.process import start_sim_process, stop_sim_process
    from gatherer.venues.ls.auth import Credentials

    start = dt.datetime.combine(
        await asyncio.to_thread(_demo_day), dt.time(8, 59, 40), tzinfo=SEOUL
    ).isoformat()
    progress(
        f"starting the LS simulator (market time {start[:10]} {start[11:19]} Seoul, a trading day;"
        " the opening auction ends at 09:00)"
    )
    sim_flags = ["--start", start, "--rate", str(args.rate), "--rest-rate-scale", str(DEMO_REST_RATE_SCALE)]
    sim = await start_sim_process(*sim_flags)
    try:
        cfg = Config(
            venue=VenueConfig(
                rest_url=sim.rest_url,
                ws_url=sim.ws_url,
                # LS's conservative default: registrations spread over 3 connections, all up within a second.
                connections_per_key=3,
                registrations_per_s=50,
                rest_rate_scale=DEMO_REST_RATE_SCALE,
            ),
            storage=StorageConfig(root=args.root),
            markets={m: MarketConfig(max_symbols=args.symbols) for m in MARKETS},
        )
        progress(
            f"recording {args.symbols} symbols of each of the six markets"
            f" for {args.duration:g} s into {args.root}"
        )
        # The collector runs on the simulator's clock: the data is filed under the simulated day.
        return await _run_supervised(
            args,
            cfg,
            [Credentials("demo-appkey", "demo-appsecret")],
            "gatherer demo",
            1,
            _clock_of(sim.clock),
        )
    finally:
        await stop_sim_process(sim.proc)
