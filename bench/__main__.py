"""`make bench`: every benchmark in turn; each writes its section of bench/RESULTS.md."""

import runpy
import sys

BENCHES = (
    "bench.capture",
    "bench.store",
    "bench.rebuild",
    "bench.journal_bytes",
    "bench.plan",
    "bench.sim",
    "bench.decode",
    "bench.status",
)
for name in BENCHES:
    print(f"== {name}", flush=True)
    sys.argv = [name]
    runpy.run_module(name, run_name="__main__")
