"""bench/journal_bytes: journal bytes per frame by zstd level, block size and a trained dictionary.

Frames come from the simulator's market model (bench/store's mix), encoded as journal records;
blocks of 100 and 1,000 records (a quiet and a busy 50 ms group commit) are compressed at several
zstd levels, with and without a dictionary trained on other frames of the same mix, and the bytes
per frame and CPU µs per frame are printed against the raw JSON. Run: `make bench` or
`python -m bench.journal_bytes [--frames 60000]`.
"""

from __future__ import annotations

import argparse
import time

import zstandard

from bench.common import record
from bench.store import make_frames
from gatherer.capture.segment import Kind, encode_record

LEVELS = (1, 3, 6, 9, 12)
BLOCKS = (100, 1000)


def main(n: int) -> None:
    frames = make_frames(n)
    raw = sum(len(p) for _, p in frames) / n
    records = [encode_record(Kind.FRAME, b"w00-c000", ns, p) for ns, p in frames]
    train, test = records[: n // 3], records[n // 3 :]
    dictionary = zstandard.train_dictionary(112 * 1024, train)
    rows = []
    for block in BLOCKS:
        blocks = [b"".join(test[i : i + block]) for i in range(0, len(test), block)]
        for level in LEVELS:
            for label, d in (("no", None), ("yes", dictionary)):
                c = zstandard.ZstdCompressor(level, dict_data=d) if d else zstandard.ZstdCompressor(level)
                t0 = time.process_time()
                size = sum(len(c.compress(b)) for b in blocks)
                cpu_us = (time.process_time() - t0) / len(test) * 1e6
                per = size / len(test)
                cells = (f"{block:,}", str(level), label, f"{per:.0f}", f"1/{raw / per:.1f}", f"{cpu_us:.2f}")
                rows.append("| " + " | ".join(cells) + " |")
                print(f"block {block:5,} level {level:2} dict {label:3}: {per:6.1f} B/frame, {cpu_us:.2f} µs")
    record(
        "journal bytes (bench/journal_bytes.py)",
        f"""Command: `python -m bench.journal_bytes --frames {n}` (`make bench`). Journal records of
bench/store's frames (raw JSON {raw:.0f} B/frame), compressed per block as the journal does, by
zstd level, with and without a 112 KiB dictionary trained on a third of the frames; CPU µs per
frame of the compression.
Target (issue): ≤ 1/12 of the raw JSON. The journal writes level 3 today.

| records per block | zstd level | dictionary | B/frame | of raw JSON | CPU µs/frame |
|---|---|---|---|---|---|
"""
        + "\n".join(rows),
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60_000)
    main(ap.parse_args().frames)
