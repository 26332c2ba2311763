"""`make bench`: every benchmark in turn; each writes its section of bench/RESULTS.md."""

import runpy
import sys

BENCHES = (
    "bench.capture",
    "bench.store",
    "bench.parquet_bytes",
    "bench.live_store",
    "bench.rebuild",
    "bench.journal_bytes",
    "bench.plan",
    "bench.sim",
    "bench.decode",
    "bench.bus",
    "bench.status",
)
# (module, arguments): the live store runs twice, an open burst and a one-hour soak.
RUNS = [(name, []) for name in BENCHES] + [("bench.live_store", ["--soak", "--after-s", "3600"])]
for name, args in RUNS:
    print(f"== {name} {' '.join(args)}", flush=True)
    sys.argv = [name, *args]
    runpy.run_module(name, run_name="__main__")
