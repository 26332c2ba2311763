"""What the commands of the ``gatherer`` command line share: the two consoles (``out`` for results
on standard output, ``console`` for messages on standard error), the event loop, the stop signals,
the parsing of ``--date`` and ``--clock``, the data root and cutoffs, and the KRX trading day the
simulator starts on.

Besides the two consoles nothing here keeps state, and nothing imports a stage (``run``, ``sim``,
``capture``, ...) at module level, so that ``gatherer --help`` stays quick.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from rich.console import Console

from gatherer.clock import SEOUL
from gatherer.errors import GathererError
from gatherer.logs import PROGRESS

console = Console(stderr=True)
out = Console()

AddCommand = Callable[..., argparse.ArgumentParser]
"""``sub.add_parser`` with the shared ``-v``/``--log-file`` flags as a parent: each command module's
``add_*`` function takes it and registers its command, ``add("run", help=...)``."""


def _run_loop(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.run(coro)
    return uvloop.run(coro)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C (SIGINT to the terminal's process group), a stop by systemd or kill (SIGTERM, to every
process of the unit at once) and a closing terminal (SIGHUP) all mean: stop the orderly way."""


def _stop_on_signals(hurry: asyncio.Event | None = None) -> asyncio.Event:
    """An event set by the first SIGINT, SIGTERM or SIGHUP: stop the orderly way.

    A second one sets ``hurry`` (when given): what can be done later is skipped, what keeps data is
    not (see ``Supervisor.run``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            if hurry is not None:
                progress(
                    f"{sig.name}: stopping; every frame received is being written to Parquet"
                    f" ({sig.name} again skips the final backfill and ledger, which can be run later)"
                )
            stop.set()
        elif hurry is not None and not hurry.is_set():
            progress(f"{sig.name} again: skipping the final backfill and ledger; still writing Parquet")
            hurry.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    return stop


def progress(message: str) -> None:
    """A message for the person at the terminal (and the log file): ``gatherer.logs.PROGRESS``."""
    logging.getLogger(PROGRESS).info(message)


def ignore_stop_signals() -> None:
    """For child processes: the parent stops us (it closes our standard input), not the signals
    sent to the whole process group (Ctrl-C) or to every process at once (systemd)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _stop_on_stdin_eof(stop: asyncio.Event) -> None:
    """Set ``stop`` when standard input closes: a parent that dies, even by kill -9, closes it."""
    loop = asyncio.get_running_loop()

    def watch() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def _root_and_cutoffs(config: str | None, root: str | None) -> tuple[str, dict[str, dt.time]]:
    from gatherer.config import Config, load_config

    cfg = load_config(config) if config else Config()
    return root or cfg.storage.root, cfg.cutoffs()


def _parse_day(text: str) -> dt.date:
    """``--date``: YYYY-MM-DD, ``today`` or ``yesterday`` (trading days: the Seoul date of now - 07:30)."""
    from gatherer.clock import SystemClock, trading_day_of

    word = text.strip().lower()
    if word in ("today", "yesterday"):
        today = trading_day_of(SystemClock().time_ns())
        return today if word == "today" else today - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise GathererError(f"--date {text!r}: expected YYYY-MM-DD, today or yesterday") from exc


def _clock_of(spec: str | None) -> Any:
    """``--clock``: a simulator's clock (the ``clock =`` line `gatherer sim` prints), else real time."""
    from gatherer.clock import ScaledClock

    if spec is None:
        return None
    try:
        return ScaledClock.from_spec(spec)
    except ValueError as exc:
        raise GathererError(
            f"--clock {spec!r}: expected the `clock = …` value `gatherer sim` prints"
            " (start_ns:speed:anchor_ns, optionally :switch_ns:speed2)"
        ) from exc


def _demo_day() -> dt.date:
    """The latest KRX session on or before today in Seoul (not a weekend, not a holiday), so the
    simulated market trades; the simulator keeps KRX's calendar. Seconds of CPU: call in a thread."""
    from gatherer.venues.ls.hours import latest_trading_day

    return latest_trading_day("kospi", dt.datetime.now(tz=SEOUL).date())


def add_day_args(
    parser: argparse.ArgumentParser, config_help: str = "TOML config (for storage.root)"
) -> None:
    """``--date`` (required), ``--config`` and ``--root``: the arguments of a command about one day."""
    parser.add_argument("--date", required=True, help="trading day: YYYY-MM-DD, today or yesterday")
    parser.add_argument("--config", help=config_help)
    parser.add_argument("--root", help="data root (default: the config's storage.root, or ./data)")
