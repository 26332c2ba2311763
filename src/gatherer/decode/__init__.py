"""decode: journal records -> typed Arrow batches per TR, and a quarantine for what does not decode.

Public API: ``Decoder`` (``add`` records, ``flush`` batches, ``take_quarantine``), ``Batch``,
``Quarantined``, ``REASONS``; ``schema_for`` / ``layout`` give a TR's Arrow schema; the value parsers
in ``fields`` are exported for reuse (REST masters, backfill). Columns: docs/formats.md, "Decoded
columns". This package never does I/O and never raises out of ``Decoder.add``.
"""

from gatherer.decode.arrow import Batch
from gatherer.decode.decoder import REASONS, STATUS_MARKET, STOCK_MARKET, Decoder, Quarantined
from gatherer.decode.fields import (
    BadValue,
    parse_date,
    parse_dec,
    parse_int,
    parse_key,
    parse_str,
    parse_time,
    units_to_decimal,
)
from gatherer.decode.schema import (
    ROW_COLUMNS,
    SCHEMA_VERSION,
    Layout,
    TimeSource,
    column_name,
    layout,
    schema_for,
)
from gatherer.decode.times import FUTURE_SLACK_S

__all__ = [
    "FUTURE_SLACK_S",
    "REASONS",
    "ROW_COLUMNS",
    "SCHEMA_VERSION",
    "STATUS_MARKET",
    "STOCK_MARKET",
    "BadValue",
    "Batch",
    "Decoder",
    "Layout",
    "Quarantined",
    "TimeSource",
    "column_name",
    "layout",
    "parse_date",
    "parse_dec",
    "parse_int",
    "parse_key",
    "parse_str",
    "parse_time",
    "schema_for",
    "units_to_decimal",
]
