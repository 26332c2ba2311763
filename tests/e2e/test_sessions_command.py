"""`gatherer sessions`, run as a user runs it: the installed command, its JSON at a winter and a
summer date, and a config whose overseas products map to exchanges through a stored master."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

GATHERER = str(Path(sys.executable).parent / "gatherer")


def sessions(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GATHERER, "sessions", *args], capture_output=True, text=True, timeout=120)


def json_of(*args: str) -> list[dict[str, Any]]:
    done = sessions("--json", *args)
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def spans(rows: list[dict[str, Any]], market: str, product: str | None) -> list[tuple[str, str]]:
    return [
        (r["start"][11:16], r["end"][11:16]) for r in rows if (r["market"], r["product"]) == (market, product)
    ]


def test_winter_and_summer_json_show_the_cme_break_where_it_is() -> None:
    winter = json_of("--date", "2026-12-02")
    assert all(set(r) == {"market", "product", "start", "end"} for r in winter)
    assert all(r["start"].endswith("+09:00") and r["end"].endswith("+09:00") for r in winter)
    assert all(r["start"][:10] == "2026-12-02" for r in winter)
    assert {r["market"] for r in winter} == {
        "kospi",
        "kosdaq",
        "kfutures",
        "koptions",
        "ofutures",
        "ooptions",
    }
    assert spans(winter, "kospi", None) == [("09:00", "15:20")]
    assert spans(winter, "kfutures", None) == [("08:45", "15:35")]
    # The CME daily break is the hole between two windows: 07:00-08:00 Seoul in the northern winter.
    assert spans(winter, "ofutures", "ES") == [("00:00", "07:00"), ("08:00", "00:00")]
    assert winter[-1]["end"] == "2026-12-03T00:00:00+09:00"  # clipped to the date
    assert (
        spans(winter, "ooptions", "O_ES")
        == spans(winter, "ofutures", "CL")
        == spans(winter, "ofutures", "ES")
    )
    assert spans(winter, "ofutures", "HSI") == [
        ("00:00", "04:00"),
        ("10:15", "13:00"),
        ("14:00", "17:30"),
        ("18:15", "00:00"),
    ]
    assert spans(winter, "ofutures", "NK") == [("00:00", "06:15"), ("08:30", "15:30"), ("16:15", "00:00")]
    summer = json_of("--date", "2026-07-02")
    assert spans(summer, "ofutures", "ES") == [("00:00", "06:00"), ("07:00", "00:00")]
    assert spans(summer, "kospi", None) == [("09:00", "15:20")]


def test_a_holiday_and_a_weekend_have_no_krx_rows() -> None:
    christmas = json_of("--date", "2026-12-25")
    assert not [r for r in christmas if r["product"] is None]
    assert spans(christmas, "ofutures", "ES") == [
        ("00:00", "03:00")
    ]  # CME halts at 12:00 Chicago on the 24th
    sunday = json_of("--date", "2026-12-06")
    assert sunday == []


def test_a_config_shows_its_markets_and_products_by_the_stored_master(tmp_path: Path) -> None:
    day = dt.date(2026, 12, 2)
    master = tmp_path / "data" / "masters" / f"date={day}" / "ofutures.parquet"
    master.parent.mkdir(parents=True)
    # A product the project does not know, on Eurex, and one whose exchange nothing knows.
    table = pa.table(
        {"BscGdsCd": ["FDAX", "ES", "XYZ"], "ExchCd": ["EUREX", "CME", "LME"], "symbol": ["a", "b", "c"]}
    )
    pq.write_table(table, master)
    config = tmp_path / "gatherer.toml"
    config.write_text(
        f'[storage]\nroot = "{tmp_path / "data"}"\n\n[markets.kospi]\n\n'
        '[markets.ofutures]\nproducts = ["FDAX", "ES", "XYZ"]\n',
        encoding="utf-8",
    )
    rows = json_of("--date", str(day), "--config", str(config))
    assert {r["market"] for r in rows} == {"kospi", "ofutures"}
    assert spans(rows, "ofutures", "FDAX") == [("00:00", "06:00"), ("09:10", "00:00")]  # 01:10-22:00 CET
    assert spans(rows, "ofutures", "XYZ") == spans(rows, "ofutures", "ES")  # unknown exchange: CME's hours
    text = sessions("--date", str(day), "--config", str(config))
    assert text.returncode == 0, text.stderr
    assert "on Eurex" in text.stdout and "'LME'" in text.stdout
    assert "stored master" in text.stdout


def test_bad_dates_are_refused_and_today_works() -> None:
    bad = sessions("--date", "2026-13-01")
    assert bad.returncode == 2
    assert "expected YYYY-MM-DD, today or yesterday" in bad.stderr
    assert sessions("--date", "yesterday").returncode == 0
    today = sessions()
    assert today.returncode == 0 and "continuous trading" in today.stdout
