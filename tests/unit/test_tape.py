"""The consolidated-tape check over a lake written from the simulator's frames: zero mismatches as
rendered, and each kind of damage found: a venue print missing, a UH1 level that is not KRX + NXT,
a UH1 KRX side that KRX's own book never showed."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gatherer.capture import Kind, Record
from gatherer.clock import seoul_ns
from gatherer.decode import Decoder
from gatherer.ledger.scan import Ledger
from gatherer.ledger.tape import tape_table
from gatherer.sim.market import MarketModel
from gatherer.sim.universe import Instrument
from gatherer.venues.ls.keys import format_tr_key

DAY = dt.date(2026, 5, 15)
STOCK = Instrument("kospi", "005930", "삼성전자", Decimal(72400), 0, "stock", Decimal(1))
TRS = ("H1_", "NH1", "UH1", "S3_", "NS3", "US3")


def _lake(root: Path) -> dict[str, pa.Table]:
    model = MarketModel([STOCK], random.Random(11))
    dec = Decoder(symbol_markets={"005930": "kospi"})
    start = seoul_ns(DAY, dt.time(10))
    for k in range(1000):
        now = start + k * 50_000_000
        for tr, body in model.events("kospi", "005930", now, frozenset(TRS)):
            frame = {"header": {"tr_cd": tr, "tr_key": format_tr_key(tr, "005930")}, "body": body}
            dec.add(Record(Kind.FRAME, k, now, "c1", json.dumps(frame).encode()))
    tables: dict[str, list[pa.Table]] = {}
    for b in dec.flush():
        tables.setdefault(b.tr_cd, []).append(b.table)
    return {tr: pa.concat_tables(ts) for tr, ts in tables.items()}


def _write(root: Path, tables: dict[str, pa.Table]) -> None:
    for tr, table in tables.items():
        channel = "book" if tr in ("H1_", "NH1", "UH1") else "trade"
        where = root / "parquet" / f"date={DAY}" / "market=kospi" / f"channel={channel}"
        where.mkdir(parents=True, exist_ok=True)
        meta = {**(table.schema.metadata or {}), b"gatherer.tr_cd": tr.encode()}
        pq.write_table(table.replace_schema_metadata(meta), where / f"w00-{tr}.parquet")


def _ledger() -> Ledger:
    ledger = Ledger(DAY)
    for tr in TRS:
        ledger.entry(tr, format_tr_key(tr, "005930")).acked_ns = seoul_ns(DAY, dt.time(9, 59))
    return ledger


def _mismatches(root: Path) -> dict[str, tuple[int, int]]:
    rows = tape_table(root, DAY, _ledger()).to_pylist()
    return {str(r["check"]): (int(r["checked"]), int(r["mismatches"])) for r in rows}


def test_the_simulators_feeds_agree_and_each_kind_of_damage_is_found(tmp_path: Path) -> None:
    tables = _lake(tmp_path)
    assert all(tables[tr].num_rows > 20 for tr in TRS), {tr: t.num_rows for tr, t in tables.items()}
    _write(tmp_path / "clean", tables)
    clean = _mismatches(tmp_path / "clean")
    assert set(clean) == {"us3_krx", "us3_nxt", "krx_us3", "nxt_us3", "uh1_levels", "uh1_krx", "uh1_nxt"}
    assert all(n > 0 and bad == 0 for n, bad in clean.values()), clean

    damaged = dict(tables)
    damaged["NS3"] = tables["NS3"].slice(1)  # the venue never sent its first NXT print
    uh1 = tables["UH1"]
    one = pc.equal(pa.array(range(uh1.num_rows)), 5)
    i = uh1.schema.get_field_index("unt_offerrem1")
    damaged["UH1"] = uh1.set_column(i, "unt_offerrem1", pc.if_else(one, 999_999, uh1.column(i)))
    j = uh1.schema.get_field_index("krx_bidrem2")
    damaged["UH1"] = damaged["UH1"].set_column(j, "krx_bidrem2", pc.if_else(one, 1, uh1.column(j)))
    _write(tmp_path / "damaged", damaged)
    got = _mismatches(tmp_path / "damaged")
    assert got["us3_nxt"][1] == 1 and got["nxt_us3"][1] == 0 and got["us3_krx"][1] == 0
    assert got["uh1_levels"][1] == 1 and got["uh1_krx"][1] == 1 and got["uh1_nxt"][1] == 0
