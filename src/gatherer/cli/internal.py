"""The hidden commands ``_worker`` and ``_store``: the child processes `gatherer run` starts.

Each one is a thin entry point into ``gatherer.run``; their plan arrives on standard input or in
flags written by the supervisor, never typed by a person, so they stay out of `gatherer --help`.
Started as ``python -m gatherer _worker`` they ignore the stop signals (see ``gatherer.__main__``):
the parent stops them by closing their standard input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
from collections.abc import Iterator

from gatherer import __version__
from gatherer.cli.common import AddCommand


def add_worker(add: AddCommand) -> None:
    # Internal: the processes `gatherer run` starts. No help= keeps them out of `gatherer --help`.
    wk = add("_worker")
    wk.set_defaults(func=_worker_process, process_name="worker")


def add_store(add: AddCommand) -> None:
    st = add("_store")
    st.add_argument("--root", required=True)
    st.add_argument("--worker", required=True)
    st.add_argument("--venue", default="")
    st.add_argument("--cutoffs", default="{}", help="JSON object market -> HH:MM")
    st.add_argument("--poll-s", type=float, default=0.05)
    st.add_argument("--flush-s", type=float, default=300.0, help="seconds between Parquet checkpoints")
    st.set_defaults(func=_store_process, sync=True, process_name="store")


async def _worker_process(args: argparse.Namespace) -> int:
    """A worker of `gatherer run`; its plan and tokens arrive on standard input (gatherer.run.worker_main)."""
    from gatherer.run.worker_main import worker_main

    return await worker_main(args.verbose, args.log_file)


def _store_process(args: argparse.Namespace) -> int:
    """The decode-and-store child of `gatherer run` (see gatherer.run.store). Synchronous on purpose."""
    import time
    from pathlib import Path

    import pyarrow as pa

    from gatherer.run.store_child import keep_pandas_out, store_worker

    keep_pandas_out()  # ~37 MB that pyarrow would import for nothing (run.store_child)

    # The C allocator gives the store's short-lived Arrow buffers (one decode batch, one spilled run)
    # back sooner than Arrow's default mimalloc pool: ~20 MB less resident at 5,000 frames/s
    # (bench/live_store --soak), at the same CPU.
    pa.set_memory_pool(pa.system_memory_pool())
    cutoffs = {m: dt.time.fromisoformat(t) for m, t in json.loads(args.cutoffs).items()}
    root = Path(args.root)
    parent_done = threading.Event()

    def watch() -> None:
        sys.stdin.buffer.read()
        parent_done.set()

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()

    def ticks() -> Iterator[bool]:
        while True:
            yield parent_done.is_set()
            time.sleep(args.poll_s)

    stats = store_worker(
        root, args.worker, version=__version__, venue=args.venue, cutoffs=cutoffs,
        stop_requested=ticks(), checkpoint_every_s=args.flush_s,
    )  # fmt: skip
    print(json.dumps(stats.__dict__), flush=True)
    return 0
