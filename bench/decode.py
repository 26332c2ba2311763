"""bench/decode: one TR through the decoder, frames/s and µs per frame on one core.

LS's published H1_ (KOSPI 10-level book) example, completed with the five mid-price fields the
portal leaves out so every one of the TR's 52 fields is decoded, journaled as ``--frames``
records, then added to a ``Decoder`` and flushed to Arrow columns. Decode alone, without Parquet
(bench/store.py measures decode + Parquet over a mix of TRs).
Run: `make bench` or `python -m bench.decode [--frames 60000]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from bench.common import record
from gatherer.capture import Kind, Record
from gatherer.clock import seoul_ns
from gatherer.decode import Decoder
from gatherer.venues.ls.catalog import CATALOG

H1_EXAMPLE = Path(__file__).parent.parent / "tests" / "fixtures" / "ls_examples" / "H1_.json"
DAY = dt.date(2026, 5, 15)


def h1_payload() -> bytes:
    example: dict[str, Any] = json.loads(H1_EXAMPLE.read_text(encoding="utf-8"))
    body = dict(example["response"]["body"])
    body.update(midprice="72350", offermidsumrem="0", bidmidsumrem="0", midsumrem="0", midsumremgubun=" ")
    assert len(body) == len(CATALOG["H1_"].fields)
    return json.dumps({"header": {"tr_cd": "H1_", "tr_key": "005930"}, "body": body}).encode()


def main(n: int) -> None:
    payload = h1_payload()
    recv = seoul_ns(DAY, dt.time(10))
    records = [Record(Kind.FRAME, i, recv + i * 1000, "c1", payload) for i in range(n)]
    dec = Decoder()
    t0 = time.perf_counter()
    for r in records:
        dec.add(r)
    batches = dec.flush()
    elapsed = time.perf_counter() - t0
    assert sum(b.table.num_rows for b in batches) == n
    print(f"H1_ decode + Arrow columns: {n / elapsed:,.0f} frames/s ({elapsed * 1e6 / n:.1f} us/frame)")
    record(
        "decode (bench/decode.py)",
        f"""Command: `python -m bench.decode --frames {n}` (`make bench`). {n:,} copies of LS's H1_ example
frame (all 52 fields) added to one `Decoder` and flushed to Arrow columns, in this process; wall time.

| figure | value |
|---|---|
| H1_ decode + Arrow columns | {n / elapsed:,.0f} frames/s ({elapsed * 1e6 / n:.1f} µs/frame) |
""",
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60_000)
    main(ap.parse_args().frames)
