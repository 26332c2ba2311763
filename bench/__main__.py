"""`make bench`: every benchmark in turn; each writes its section of bench/RESULTS.md."""

import runpy
import sys

for name in ("bench.capture", "bench.store", "bench.rebuild", "bench.plan", "bench.sim", "bench.decode"):
    print(f"== {name}", flush=True)
    sys.argv = [name]
    runpy.run_module(name, run_name="__main__")
