"""How a tick file's columns are encoded: the one definition every tick Parquet writer uses.

``sinks.runfile`` writes every file of the tick tables (the live store, a spilled run file, a
rebuild and the bus sink all go through ``ParquetSink``) with ``writer_options``. The choice was
measured column by column on bench/store's mix (``python -m bench.parquet_bytes`` prints the table;
bench/RESULTS.md, "Parquet bytes"):

- rows sorted by (symbol, recv_ns, seq) (``runfile.SORT_KEYS``), so a symbol's values sit together;
- ``recv_ns`` and ``seq`` DELTA_BINARY_PACKED: they climb within each symbol, and their deltas pack
  into a few bits where zstd alone sees eight changing bytes;
- integers, decimals and timestamps PLAIN (no dictionary): zstd finds a sorted symbol's repeated
  prices and quantities in the plain bytes better than in bit-packed dictionary indexes, and it is
  faster to write (45.0 -> 29.6 B/frame with the level below, 2.3 -> 1.5 µs/frame of write CPU);
- strings and dates dictionary-encoded (codes, flags, broker names: few distinct values);
- zstd level 3 (level 1 is 8 % larger; level 6 is 3 % smaller for twice the write CPU);
- statistics for every column, so a reader can skip row groups on any column.

Values and the Arrow schema are untouched: these are storage choices only (decimal128 stays
decimal128 in its fixed-length form, blanks stay null).
"""

from __future__ import annotations

import pyarrow as pa

COMPRESSION = "zstd"
ZSTD_LEVEL = 3
DELTA_COLUMNS = ("recv_ns", "seq")
"""Written with DELTA_BINARY_PACKED (and so never with a dictionary)."""


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns written with a dictionary: strings and dates (few distinct values per file)."""
    return [
        f.name
        for f in schema
        if f.name not in DELTA_COLUMNS
        and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_date(f.type))
    ]


def column_encodings(schema: pa.Schema) -> dict[str, str]:
    """Explicit encodings (the others: dictionary, or PLAIN where there is none)."""
    return {n: "DELTA_BINARY_PACKED" for n in DELTA_COLUMNS if n in schema.names}


def writer_options(schema: pa.Schema) -> dict[str, object]:
    """Keyword arguments for ``pq.write_table`` / ``pq.ParquetWriter`` of one tick file."""
    return {
        "compression": COMPRESSION,
        "compression_level": ZSTD_LEVEL,
        "write_statistics": True,
        "use_dictionary": dictionary_columns(schema),
        "column_encoding": column_encodings(schema) or None,
    }
