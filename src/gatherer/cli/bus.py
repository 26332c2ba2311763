"""The bus on the command line: ``sink`` (the stream into a lake on this host) and the hidden
``_publish`` (one worker's journal onto the stream; started by `gatherer run` when the config has
a ``[bus]`` table). docs/scale-out.md tells the whole story."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path

from gatherer import __version__
from gatherer.cli.common import AddCommand, _clock_of, _stop_on_signals, out, progress
from gatherer.errors import GathererError

_DURABLE = re.compile(r"^[A-Za-z0-9_-]+$")


def add_sink(add: AddCommand) -> None:
    s = add("sink", help="consume the bus (NATS JetStream) into a lake: Parquet as a local run writes it")
    s.add_argument(
        "--bus", required=True, metavar="URL", help="nats://host:4222 (a cluster: comma-separated)"
    )
    s.add_argument("--root", required=True, help="the lake's root directory")
    s.add_argument("--durable", default="sink", help="the durable consumer's name (default: sink)")
    s.add_argument("--stream", default="GATHERER", help="the stream (default GATHERER, as [bus] stream)")
    s.add_argument("--subject-prefix", default="gatherer", help="as [bus] subject_prefix (default gatherer)")
    s.add_argument(
        "--config", help="a collector's TOML file: its markets' trading-day cutoffs and journal retention"
    )
    s.add_argument("--flush-s", type=float, default=5.0, help="seconds between checkpoints (default 5)")
    s.add_argument("--duration", type=float, help="stop after this many seconds")
    s.add_argument("--clock", metavar="SPEC", help="a simulator's clock (for the lag figures)")
    s.add_argument(
        "--merge", action="store_true",
        help="A/B: the collectors record the same universe; store each venue frame once",
    )  # fmt: skip
    s.set_defaults(func=_sink)


def add_publish(add: AddCommand) -> None:
    p = add("_publish")
    p.add_argument("--root", required=True)
    p.add_argument("--worker", required=True)
    p.add_argument("--bus", required=True, help="the [bus] table as JSON")
    p.set_defaults(func=_publish, process_name="publish")


async def _publish(args: argparse.Namespace) -> int:
    from gatherer.run.publishers import publisher_process

    return await publisher_process(Path(args.root), args.worker, args.bus)


def _cutoffs(path: str | None) -> dict[str, object] | None:
    if path is None:
        return None
    from gatherer.config import load_config

    cfg = load_config(path)
    return {m: mc.cutoff_time() for m, mc in cfg.markets.items()}


def _keep_days(path: str | None) -> int | None:
    """The config's journal retention, which the sink's journal replicas follow."""
    if path is None:
        return None
    from gatherer.config import load_config

    return load_config(path).storage.journal_keep_days


async def _sink(args: argparse.Namespace) -> int:
    from gatherer.config import BusConfig, bus_problems
    from gatherer.run.sink import SinkSettings, run_sink

    problems = bus_problems(BusConfig(url=args.bus, stream=args.stream, subject_prefix=args.subject_prefix))
    if not _DURABLE.match(args.durable):
        problems.append(f"--durable {args.durable!r}: expected letters, digits, _ and -")
    if args.flush_s <= 0:
        problems.append(f"--flush-s {args.flush_s!r}: expected a number above 0")
    if problems:
        raise GathererError("; ".join(p.replace("bus.url", "--bus") for p in problems))
    settings = SinkSettings(
        url=args.bus, root=Path(args.root), durable=args.durable, stream=args.stream,
        subject_prefix=args.subject_prefix, flush_s=args.flush_s, cutoffs=_cutoffs(args.config),  # type: ignore[arg-type]
        version=__version__, merge=args.merge, journal_keep_days=_keep_days(args.config),
    )  # fmt: skip
    stop = _stop_on_signals()
    if args.duration:
        asyncio.get_running_loop().call_later(args.duration, stop.set)
    progress(
        f"sink {args.durable}: stream {args.stream} at {args.bus} into {args.root}"
        + (" (A/B merge)" if args.merge else "") + "; stop with Ctrl-C"
    )  # fmt: skip
    stats = await run_sink(settings, stop, _clock_of(args.clock))
    progress(
        f"sink {args.durable}: {stats.records:,} record(s) stored from {stats.messages:,} message(s)"
        f" ({stats.skipped:,} already held), {len(stats.stores)} worker journal(s), "
        f"{stats.ledgers} day ledger(s) written; up to stream sequence {stats.stream_seq:,}"
        + (f"; {stats.seq_holes} stretch(es) missing upstream" if stats.seq_holes else "")
        + (f"; {stats.damaged} damaged message(s)" if stats.damaged else "")
    )  # fmt: skip
    lags = sorted(stats.lag_ns)
    report = {k: v for k, v in stats.__dict__.items() if k not in ("lag_ns", "stores")} | {
        "lag_p50_ms": round(lags[len(lags) // 2] / 1e6, 1) if lags else None,
        "lag_p99_ms": round(lags[min(len(lags) - 1, len(lags) * 99 // 100)] / 1e6, 1) if lags else None,
        "stores": sorted(stats.stores),
    }
    if stats.merge is not None:
        report["merge"] = stats.merge
    out.print(json.dumps(report), highlight=False, soft_wrap=True)
    return 0
