"""The day's ledger as Arrow tables: one schema and one table builder per file (coverage, gaps,
dark), rows in a stable order so a rebuilt ledger is the same file. What the files hold is in
``day.py`` and docs/formats.md; nothing here reads the journal or writes a file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from gatherer.decode.schema import TS_TYPE
from gatherer.ledger.scan import Coverage, Dark, Gap, Ledger, market_channel

COVERAGE_SCHEMA = pa.schema(
    [
        ("tr_cd", pa.string()), ("tr_key", pa.string()), ("symbol", pa.string()), ("market", pa.string()),
        ("channel", pa.string()), ("subscribed", TS_TYPE), ("subscriptions", pa.int64()), ("acked", TS_TYPE),
        ("refusals", pa.int64()), ("refused_code", pa.string()), ("unanswered", pa.int64()),
        ("drops", pa.int64()), ("first_frame", TS_TYPE), ("last_frame", TS_TYPE), ("frames", pa.int64()),
    ]
)  # fmt: skip
DARK_SCHEMA = pa.schema(
    [
        ("gap_id", pa.string()), ("conn_id", pa.string()), ("tr_cd", pa.string()), ("tr_key", pa.string()),
        ("symbol", pa.string()), ("market", pa.string()), ("channel", pa.string()), ("start", TS_TYPE),
        ("reconnected", TS_TYPE), ("acked", TS_TYPE), ("first_frame", TS_TYPE), ("dark_s", pa.float64()),
        ("frames_before", pa.int64()),
    ]
)  # fmt: skip
GAPS_SCHEMA = pa.schema(
    [
        ("id", pa.string()), ("kind", pa.string()), ("market", pa.string()), ("channel", pa.string()),
        ("tr_cd", pa.string()), ("symbols", pa.list_(pa.string())), ("start", TS_TYPE), ("end", TS_TYPE),
        ("cause", pa.string()), ("missing", pa.int64()), ("status", pa.string()), ("filled", pa.int64()),
        ("rest_tr", pa.string()), ("detail", pa.string()), ("conn_id", pa.string()),
    ]
)  # fmt: skip


def coverage_table(ledger: Ledger) -> pa.Table:
    rows = sorted(ledger.coverage.values(), key=lambda c: (c.tr_cd, c.tr_key))
    getters: dict[str, Callable[[Coverage], Any]] = {
        "tr_cd": lambda c: c.tr_cd,
        "tr_key": lambda c: c.tr_key,
        "symbol": lambda c: c.symbol,
        "market": lambda c: ledger.market_of(c.tr_cd, c.tr_key),
        "channel": lambda c: market_channel(c.tr_cd)[1],
        "subscribed": lambda c: c.subscribed_ns,
        "subscriptions": lambda c: c.subscriptions,
        "acked": lambda c: c.acked_ns,
        "refusals": lambda c: c.refusals,
        "refused_code": lambda c: c.refused_code or None,
        "unanswered": lambda c: c.unanswered,
        "drops": lambda c: c.drops,
        "first_frame": lambda c: c.first_ns,
        "last_frame": lambda c: c.last_ns,
        "frames": lambda c: c.frames,
    }
    return pa.Table.from_pydict(
        {n: [get(c) for c in rows] for n, get in getters.items()}, schema=COVERAGE_SCHEMA
    )


def gaps_table(ledger: Ledger) -> pa.Table:
    getters: dict[str, Callable[[Gap], Any]] = {
        "id": lambda g: g.id,
        "kind": lambda g: g.kind,
        "market": lambda g: g.market,
        "channel": lambda g: g.channel,
        "tr_cd": lambda g: g.tr_cd,
        "symbols": lambda g: g.symbols,
        "start": lambda g: g.start_ns,
        "end": lambda g: g.end_ns,
        "cause": lambda g: g.cause,
        "missing": lambda g: g.missing,
        "status": lambda g: g.status,
        "filled": lambda g: g.filled,
        "rest_tr": lambda g: g.rest_tr or None,
        "detail": lambda g: g.detail or None,
        "conn_id": lambda g: g.conn_id or None,
    }
    return pa.Table.from_pydict(
        {n: [get(g) for g in ledger.gaps] for n, get in getters.items()}, schema=GAPS_SCHEMA
    )


def dark_table(ledger: Ledger) -> pa.Table:
    rows = sorted(ledger.dark, key=lambda d: (d.start_ns, d.conn_id, d.tr_cd, d.tr_key))
    getters: dict[str, Callable[[Dark], Any]] = {
        "gap_id": lambda d: d.gap_id,
        "conn_id": lambda d: d.conn_id,
        "tr_cd": lambda d: d.tr_cd,
        "tr_key": lambda d: d.tr_key,
        "symbol": lambda d: d.tr_key.strip(),
        "market": lambda d: ledger.market_of(d.tr_cd, d.tr_key),
        "channel": lambda d: market_channel(d.tr_cd)[1],
        "start": lambda d: d.start_ns,
        "reconnected": lambda d: d.reconnected_ns,
        "acked": lambda d: d.acked_ns,
        "first_frame": lambda d: d.first_ns,
        "dark_s": lambda d: None if d.dark_ns is None else d.dark_ns / 1e9,
        "frames_before": lambda d: d.frames_before,
    }
    return pa.Table.from_pydict({n: [get(d) for d in rows] for n, get in getters.items()}, schema=DARK_SCHEMA)
