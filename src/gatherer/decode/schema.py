"""Arrow schema per real-time TR, derived from the field catalog (LS_OPENAPI.md §3).

Column conventions (repeated in docs/formats.md, "Decoded columns"):

- Row columns first: ``seq`` int64 (journal sequence number), ``recv_ns`` int64 (UTC ns),
  ``trading_day`` date32, ``tr_cd`` string, ``conn_id`` string, ``symbol`` string (from the
  header ``tr_key``, padding and the NXT/통합 prefix removed; a VI registration for every stock
  takes the body's ``shcode``), ``venue`` string (``krx``, ``nxt``, ``unified``, ``overseas``; null
  for JIF), ``session`` string (the phase of the day, ``phases.py``; null overseas).
- Then every catalog field in table order, typed by kind: ``int`` -> int64, ``dec`` ->
  decimal128(length + scale, scale), ``str``/``time``/``date`` -> string as sent. Each ``time``
  field is followed by ``<field>_ts``, timestamp[ns, tz=Asia/Seoul] (the instant; which wall
  clock it was read in is in ``TIME_SOURCES``).
- A body field whose name is a row column (``symbol`` in OVH/OVC/WOH/WOC) or a partition key
  (``date`` in DC0) is stored as ``body_<name>``.
- Night-session TRs (DH0/DC0) add ``session`` = ``"night"`` before ``extra``; their
  ``trading_day`` is the KRX night rule's (``venues.ls.night``), not the market's cutoff.
- ``extra`` string last: a JSON object of body fields the catalog does not know, or null.

Every column is nullable except the row columns. Nothing here parses a frame.

Example, LS's OVC frame (§3.7, tests/fixtures/ls_examples/OVC.json, shortened)::

    {"header": {"tr_cd": "OVC", "tr_key": "NQU23   "},
     "body": {"symbol": "NQU23", "ovsdate": "20230622", "trdtm": "001640", "kordate": "20230622",
              "kortm": "141640", "curpr": "0. 14997.75", "chgrate": "-0.31", "totq": "28064",
              "mdvolume": "", ...}}

has columns ``symbol`` "NQU23", ``body_symbol`` "NQU23", ``ovsdate`` "20230622", ``trdtm`` "001640",
``trdtm_ts`` (exchange-local), ``kortm_ts`` (Seoul), ``curpr`` decimal128(24, 9) 14997.75,
``chgrate`` decimal128(8, 2) -0.31, ``totq`` int64 28064, ``mdvolume`` null, ``ovsmkend`` null.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import pyarrow as pa

from gatherer.venues.ls.catalog import CATALOG, Field, TrSpec

SCHEMA_VERSION = "1"
SEOUL_TZ = "Asia/Seoul"
TS_TYPE = pa.timestamp("ns", tz=SEOUL_TZ)
ROW_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("recv_ns", pa.int64(), nullable=False),
    pa.field("trading_day", pa.date32(), nullable=False),
    pa.field("tr_cd", pa.string(), nullable=False),
    pa.field("conn_id", pa.string(), nullable=False),
    pa.field("symbol", pa.string(), nullable=False),
    pa.field("venue", pa.string()),
    pa.field("session", pa.string()),
)
PARTITION_NAMES = frozenset({"date", "market", "channel"})
"""The Parquet layout's hive partition keys (``date=/market=/channel=``): a body field of that name
(DC0's ``date``) is stored as ``body_<name>`` too, so a hive-partitioned read cannot shadow it."""
_ROW_NAMES = frozenset(f.name for f in ROW_COLUMNS) | {"extra"} | PARTITION_NAMES

Clock = Literal["seoul", "local"]
"""Which wall clock a time field is read in: Asia/Seoul, or the overseas exchange's zone."""

# Overseas TRs (§3.7): trdtm is exchange-local with ovsdate, kortm is Korean with kordate, and the
# book's hotime carries no date and is read as exchange-local too.
_OVERSEAS_TIMES: dict[str, tuple[str | None, Clock]] = {
    "trdtm": ("ovsdate", "local"),
    "kortm": ("kordate", "seoul"),
}


@dataclass(frozen=True, slots=True)
class TimeSource:
    """How ``<field>_ts`` is built: the time field, the date field giving its day (or None: the day
    comes from the receive time), and the wall clock it is read in."""

    field: str
    date_field: str | None
    clock: Clock


@dataclass(frozen=True, slots=True)
class Layout:
    """Everything the decoder needs about one TR's columns."""

    spec: TrSpec
    schema: pa.Schema
    ints: tuple[str, ...]
    decs: tuple[tuple[str, int, int], ...]
    """(field, scale, precision)."""
    strs: tuple[str, ...]
    times: tuple[str, ...]
    dates: tuple[str, ...]
    key: str
    """The key field (``shcode``, ``futcode``, ``optcode``, ``symbol``), or ``""`` (JIF)."""
    time_sources: tuple[TimeSource, ...]

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(self.spec.names)


def column_name(field: str) -> str:
    """The column a body field is stored in (``symbol`` -> ``body_symbol``, the rest unchanged)."""
    return f"body_{field}" if field in _ROW_NAMES else field


def decimal_precision(field: Field) -> int:
    """Digits a ``dec`` field's column holds: the LS length plus the scale, so either reading of LS's
    ``len`` (total digits, or integer digits) fits; the sign costs no digit in decimal128."""
    return min(38, field.length + field.scale)


def _arrow_type(field: Field) -> pa.DataType:
    if field.kind == "int":
        return pa.int64()
    if field.kind == "dec":
        return pa.decimal128(decimal_precision(field), field.scale)
    return pa.string()


def _time_source(spec: TrSpec, field: str) -> TimeSource:
    if spec.venue == "overseas":
        date_field, clock = _OVERSEAS_TIMES.get(field, (None, "local"))
        if date_field is not None and date_field not in spec.names:
            date_field = None
        return TimeSource(field, date_field, clock)
    return TimeSource(field, None, "seoul")


@cache
def layout(tr_cd: str) -> Layout:
    """The column layout of a catalog TR (KeyError for an unknown code)."""
    spec = CATALOG[tr_cd]
    columns: list[pa.Field] = list(ROW_COLUMNS)
    for f in spec.fields:
        columns.append(pa.field(column_name(f.name), _arrow_type(f)))
        if f.kind == "time":
            columns.append(pa.field(f"{f.name}_ts", TS_TYPE))
    columns.append(pa.field("extra", pa.string()))
    metadata = {
        "gatherer.schema": SCHEMA_VERSION,
        "tr_cd": spec.tr_cd,
        "layout": spec.layout,
        "channel": spec.channel,
    }
    by_kind = {k: tuple(f for f in spec.fields if f.kind == k) for k in ("int", "dec", "str", "time", "date")}
    return Layout(
        spec=spec,
        schema=pa.schema(columns, metadata=metadata),
        ints=tuple(f.name for f in by_kind["int"]),
        decs=tuple((f.name, f.scale, decimal_precision(f)) for f in by_kind["dec"]),
        strs=tuple(f.name for f in by_kind["str"]),
        times=tuple(f.name for f in by_kind["time"]),
        dates=tuple(f.name for f in by_kind["date"]),
        key=spec.key_field,
        time_sources=tuple(_time_source(spec, f.name) for f in by_kind["time"]),
    )


def schema_for(tr_cd: str) -> pa.Schema:
    """The Arrow schema of a TR's decoded table."""
    return layout(tr_cd).schema
