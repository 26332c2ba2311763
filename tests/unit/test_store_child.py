"""The store process (``gatherer _store``) imports only what it runs: memory (issue 16).

Whatever a module imports stays resident in every process that imports it; the store child used
to reach DuckDB (the ledger's tape), aiohttp and picows (the worker) through ``run.pipeline``,
~40 MB of its ~280 MB at 5,000 frames/s (bench/live_store --soak).
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("duckdb", "aiohttp", "picows", "gatherer.run.worker", "gatherer.run.pipeline", "gatherer.plan")


def test_the_store_process_imports_neither_the_worker_nor_duckdb() -> None:
    # What `python -m gatherer _store` imports: the command line, then the store's entry point.
    code = "import sys, gatherer.cli, gatherer.run.store_child; print('\\n'.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=99)
    modules = set(run.stdout.split())
    assert "gatherer.run.store" in modules and "pyarrow" in modules  # it did import the store
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == [], f"the store process imports {heavy}: keep them out of its import chain"

