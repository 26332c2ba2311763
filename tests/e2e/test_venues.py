"""KOSPI on KRX, NXT and the consolidated feed, with VI and market status, recorded by `gatherer run`
against the simulator: every frame lands in Parquet exactly, rows carry their venue and session, NXT
rows of KOSDAQ codes are filed under kosdaq, and the ledger's consolidated-tape check finds exactly
the one NS3 print the venue did not send."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import signal
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from gatherer.capture import Kind, iter_records
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.keys import symbol_of

from ..conftest import MIDDAY, Reap, sim_settings
from ..helpers.procs import start_run, wait_recording
from ..helpers.waiting import wait_until
from .test_store import as_sent, data_frames, parquet_rows

_REGISTRATIONS = 4 * 2 * 3 + 3 + 1 + 2
"""KOSPI: 4 codes x (book, trade) x (krx, nxt, unified), VI for every stock on each venue, JIF;
KOSDAQ: 2 codes x NXT trades."""


def _config(sim: Simulator, root: Path) -> Path:
    path = root / "gatherer.toml"
    path.write_text(
        f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
registrations_per_s = 80
rest_rate_scale = 20

[storage]
root = "{root}"

[markets.kospi]
max_symbols = 4
venues = ["krx", "nxt", "unified"]
channels = ["book", "trade", "vi", "status"]

[markets.kosdaq]
max_symbols = 2
venues = ["nxt"]
channels = ["trade"]
""",
        encoding="utf-8",
    )
    return path


def _journal_frames(root: Path) -> int:
    return sum(1 for r in iter_records(root / "journal") if r.kind == Kind.FRAME)


def _journal_acks(root: Path) -> int:
    return sum(1 for r in iter_records(root / "journal") if r.kind == Kind.FRAME and b'"rsp_cd"' in r.payload)


async def test_kospi_on_three_venues_lands_exactly_and_the_tape_check_finds_a_dropped_ns3(
    tmp_path: Path, reap: Reap
) -> None:
    sent: list[bytes] = []
    settings = sim_settings(stream=StreamSettings(rate_fps=3000.0), limits=VenueLimits(rest_rate_scale=20))
    async with Simulator(settings, on_sent=lambda _conn, frame: sent.append(frame)) as sim:
        proc = await start_run(reap, sim, _config(sim, tmp_path))
        await wait_recording(proc)
        await wait_until(lambda: sim.hub.registrations_total() == _REGISTRATIONS, 60)
        keys = {k for c in sim.hub.connections.values() for k in c.registrations}
        us3 = sorted(symbol_of(tr, key) for tr, key in keys if tr == "US3")
        # The tape check compares prints whose exchange second starts a second or more after the
        # collector received the last ack: wait until the journal holds every ack, then three
        # seconds (the print's second, floored, is then past the window's start), before keeping
        # one NS3 print back.
        await wait_until(lambda: _journal_acks(tmp_path) >= _REGISTRATIONS, 60)
        acked_at = sim.clock.time_ns()
        await wait_until(lambda: sim.clock.time_ns() > acked_at + 3_000_000_000, 60)
        sim.inject("skip", tr_cd="NS3", tr_key="N" + us3[0])
        await wait_until(lambda: len(sim.hub.skipped) == 1, 60)
        await wait_until(lambda: len(sent) > 4000, 60)
        sim.hub.paused = True
        # Everything sent (data and acks) is in the journal before the stop.
        await wait_until(lambda: _journal_frames(tmp_path) >= len(sent) + sim.hub.acks_total, 60)
        proc.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()

    frames = data_frames(tmp_path)
    rows = parquet_rows(tmp_path)
    assert sorted(r["seq"] for r in rows) == sorted(frames)  # exactly once, nothing quarantined
    for row in rows:
        frame = json.loads(frames[row["seq"]])
        spec = CATALOG[frame["header"]["tr_cd"]]
        assert row["tr_cd"] == spec.tr_cd and row["venue"] == (spec.venue or None)
        for f in spec.fields:
            sent_text = frame["body"].get(f.name)
            if f.name == spec.key_field and sent_text is not None:
                sent_text = sent_text.rstrip()
            assert row[f.name] == as_sent(f.kind, sent_text), (spec.tr_cd, f.name)
        if spec.channel == "vi":
            assert row["symbol"] == frame["body"]["shcode"].strip()  # one registration for every stock
        else:
            assert row["symbol"] == symbol_of(spec.tr_cd, frame["header"]["tr_key"])
    by_seq_session = {r["seq"]: r["session"] for r in rows}
    trs = Counter(r["tr_cd"] for r in rows)
    assert {"H1_", "S3_", "NH1", "NS3", "UH1", "US3"} <= set(trs), trs
    # Midday on the simulator: continuous trading, or halted while a VI is on for the row's symbol,
    # worked out here from the VI frames in journal order.
    vi_on: dict[tuple[str, str], bool] = {}
    sessions: Counter[str] = Counter()
    for seq in sorted(frames):
        frame = json.loads(frames[seq])
        tr, body = frame["header"]["tr_cd"], frame["body"]
        if tr in ("VI_", "NVI"):
            vi_on[("krx" if tr == "VI_" else "nxt", body["shcode"])] = body["vi_gubun"] != "0"
        if tr == "UVI":
            for side in ("krx", "nxt"):
                vi_on[(side, body["shcode"])] = body[f"{side}_vi_gubun"] != "0"
        venue = CATALOG[tr].venue
        sides = ("krx", "nxt") if venue == "unified" else (venue,)
        halted = any(vi_on.get((side, symbol_of(tr, frame["header"]["tr_key"]) if CATALOG[tr].channel != "vi"
                                else body["shcode"]), False) for side in sides)  # fmt: skip
        sessions[by_seq_session[seq]] += 1
        assert by_seq_session[seq] == ("halted" if halted else "continuous"), (seq, tr)
    assert sessions["continuous"] > 0, sessions

    # NXT rows of the KOSDAQ codes are filed under kosdaq, of the KOSPI codes under kospi.
    (day_dir,) = (tmp_path / "parquet").iterdir()
    for market in ("kospi", "kosdaq"):
        ns3 = [pq.read_table(p) for p in (day_dir / f"market={market}" / "channel=trade").glob("*.parquet")]
        symbols = {
            s for t in ns3 if t.column("tr_cd")[0].as_py() == "NS3" for s in t.column("symbol").to_pylist()
        }
        assert symbols and (symbols <= set(us3)) == (market == "kospi"), (market, symbols)

    day = dt.date.fromisoformat(day_dir.name.removeprefix("date="))
    tape = pq.read_table(tmp_path / "ledger" / f"date={day.isoformat()}" / "tape.parquet").to_pylist()
    checked = Counter[str]()
    mismatches = Counter[str]()
    for t in tape:
        checked[str(t["check"])] += int(t["checked"])  # type: ignore[call-overload]
        mismatches[str(t["check"])] += int(t["mismatches"])  # type: ignore[call-overload]
    assert all(checked[c] > 0 for c in ("us3_krx", "krx_us3", "uh1_levels", "uh1_krx", "uh1_nxt")), checked
    for check in ("us3_krx", "krx_us3", "uh1_levels", "uh1_krx", "uh1_nxt"):
        assert mismatches[check] == 0, mismatches
    assert mismatches["nxt_us3"] == 0, mismatches
    # The one NS3 print the venue kept back is the one US3 print without its venue print.
    assert mismatches["us3_nxt"] == 1, mismatches
    (miss,) = [t for t in tape if t["check"] == "us3_nxt" and t["mismatches"]]
    assert miss["symbol"] == us3[0] and miss["market"] == "kospi"

    # The coverage names the market the rows are filed under, NXT/통합 ones too.
    coverage = pq.read_table(tmp_path / "ledger" / f"date={day.isoformat()}" / "coverage.parquet").to_pylist()
    ns3 = {symbol_of("NS3", c["tr_key"]): c["market"] for c in coverage if c["tr_cd"] == "NS3"}
    assert ns3 and all(m == ("kospi" if s in us3 else "kosdaq") for s, m in ns3.items()), ns3

    # `gatherer report` prints the check.
    report = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "report", "--root", str(tmp_path), "--date", day.isoformat(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    text, err = await asyncio.wait_for(report.communicate(), 60)
    assert report.returncode == 0, err.decode()
    line = next(x for x in text.decode().splitlines() if x.strip().startswith("us3_nxt"))
    assert line.split()[1:] == [f"{checked['us3_nxt']:,}", "1"], line

    # The SQL view over the lake reads the venues and sessions as one table.
    sql = (
        "select venue, count(*) n from trade where session = 'continuous' and market = 'kospi'"
        " group by 1 order by 1"
    )
    query = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatherer", "query", "--root", str(tmp_path), "--format", "csv", sql,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(query.communicate(), 60)
    assert query.returncode == 0, err.decode()
    header, *lines = list(csv.reader(out.decode().splitlines()))
    assert header == ["venue", "n"]
    counted = {venue: int(n) for venue, n in lines}
    kospi = Counter(
        r["venue"]
        for r in rows
        if r["session"] == "continuous" and r["tr_cd"] in ("S3_", "NS3", "US3") and r["symbol"] in us3
    )
    assert counted == dict(kospi) and set(counted) == {"krx", "nxt", "unified"}, counted


def _auction_config(sim: Simulator, root: Path) -> Path:
    path = root / "gatherer.toml"
    path.write_text(
        f"""
[venue]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
registrations_per_s = 80
rest_rate_scale = 20

[storage]
root = "{root}"

[markets.kospi]
max_symbols = 2
channels = ["auction"]

[markets.kfutures]
max_symbols = 2
channels = ["trade", "auction", "status"]
""",
        encoding="utf-8",
    )
    return path


async def test_auction_and_status_channels_stream_in_the_opening_auction_and_label_the_open(
    tmp_path: Path, reap: Reap
) -> None:
    # 08:41 on the simulator's usual Wednesday, ten times real speed (24 s of wall time for the
    # collector to start and register on a loaded machine): the stock and derivatives opening
    # auctions stream YS3 and YF9 until KRX derivatives open at 08:45 (JIF jangubun 5, 21).
    start = dt.datetime.combine(MIDDAY.date(), dt.time(8, 41), tzinfo=MIDDAY.tzinfo)
    opens = int(dt.datetime.combine(MIDDAY.date(), dt.time(8, 45), tzinfo=MIDDAY.tzinfo).timestamp() * 1e9)
    settings = sim_settings(
        start=start,
        speed=10.0,
        stream=StreamSettings(rate_fps=2000.0),
        limits=VenueLimits(rest_rate_scale=20),
    )
    async with Simulator(settings) as sim:
        proc = await start_run(reap, sim, _auction_config(sim, tmp_path))
        await wait_recording(proc)
        await wait_until(lambda: sim.hub.registrations_total() == 2 + 2 + 2 + 1, 60)
        assert sim.clock.time_ns() < opens, "registered after the open: the machine is too slow for this test"
        await wait_until(lambda: sim.clock.time_ns() > opens + 20_000_000_000, 60)
        sim.hub.paused = True
        await wait_until(
            lambda: _journal_frames(tmp_path) >= sim.hub.frames_sent_total + sim.hub.acks_total, 60
        )
        proc.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()

    frames = data_frames(tmp_path)
    rows = parquet_rows(tmp_path)
    assert sorted(r["seq"] for r in rows) == sorted(frames)
    for row in rows:
        frame = json.loads(frames[row["seq"]])
        spec = CATALOG[frame["header"]["tr_cd"]]
        for f in spec.fields:
            sent_text = frame["body"].get(f.name)
            if f.name == spec.key_field and sent_text is not None:
                sent_text = sent_text.rstrip()
            assert row[f.name] == as_sent(f.kind, sent_text), (spec.tr_cd, f.name)
    trs = Counter(r["tr_cd"] for r in rows)
    assert trs["YS3"] and trs["YF9"] and trs["FC9"], trs
    (jif,) = [r for r in rows if r["tr_cd"] == "JIF" and r["jangubun"] == "5"]
    assert jif["jstatus"] == "21" and jif["session"] == "continuous"
    for r in rows:
        if r["tr_cd"] == "YS3":
            assert r["session"] == "pre_open", r
        elif r["tr_cd"] == "YF9" and abs(r["recv_ns"] - jif["recv_ns"]) < 1_000_000_000:
            # JIF and the futures' frames come on different connections, and the journal keeps
            # arrival order: around the open an auction frame may land after JIF (it takes JIF's
            # phase) or after 08:45 but before JIF (the timetable's), docs/formats.md "Session phase".
            assert r["session"] in ("pre_open", "continuous"), r
            assert r["seq"] < jif["seq"] or r["session"] == "continuous", (r, jif)
        elif r["tr_cd"] == "YF9":
            assert r["seq"] < jif["seq"] and r["session"] == "pre_open", r
        if r["tr_cd"] == "FC9":  # the opening auction's print and the continuous trades after it
            assert r["session"] == ("continuous" if r["seq"] > jif["seq"] else "pre_open"), r
