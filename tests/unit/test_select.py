"""Universe selection: the config against code lists and the simulator's real-size masters."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatherer.config import MARKETS, Config, MarketConfig, load_config, parse_config
from gatherer.errors import ConfigError
from gatherer.plan import Limits, explain, pack
from gatherer.plan.select import Registration, chunk, select, select_with_notes
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.masters import fetch_master
from gatherer.venues.ls.ratelimit import TR_LIMITS, with_overrides
from gatherer.venues.ls.rest import RestClient

from ..conftest import sim_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

FRONT = "2612"
"""The nearest KOSPI200 option month the simulator lists on MIDDAY (2026-11-25; November's
expired on the 12th)."""

MASTERS = {"kospi": ["005930", "000660", "035420"], "ofutures": ["ESZ26", "NQZ26"]}


def test_all_takes_the_master_and_every_channel() -> None:
    cfg = parse_config('[markets.kospi]\nsymbols = "all"\nchannels = ["book", "trade"]\n')
    regs = select(cfg, MASTERS)
    assert len(regs) == 6
    assert {r.tr_cd for r in regs} == {"H1_", "S3_"}
    assert Registration("kospi", "book", "H1_", "005930") in regs


def test_a_list_is_checked_against_the_master() -> None:
    cfg = parse_config('[markets.ofutures]\nsymbols = ["ESZ26", "CLZ26", "XXZ26"]\n')
    with pytest.raises(
        ConfigError,
        match=r"markets.ofutures.symbols: 2 code\(s\) or pattern\(s\) match nothing in today.s ofutures",
    ):
        select(cfg, MASTERS)


def test_overseas_keys_are_padded() -> None:
    cfg = parse_config('[markets.ofutures]\nsymbols = ["ESZ26"]\nchannels = ["trade"]\n')
    (reg,) = select(cfg, MASTERS)
    assert reg.tr_key == "ESZ26   "


def test_filters_need_the_master_table_not_just_codes() -> None:
    cfg = parse_config("[markets.kospi]\netf = false\n")
    with pytest.raises(ConfigError, match=r"markets\.kospi\.etf: needs the kospi master table"):
        select(cfg, MASTERS)
    sel = select_with_notes(parse_config("[markets.kfutures]\n"), {"kfutures": ["A0166000", "D016669S"]})
    assert len(sel.registrations) == 4 and sel.notes == []  # spreads are kept: nothing to tell apart
    with pytest.raises(ConfigError, match=r"markets\.kfutures\.spreads: needs the kfutures master table"):
        select(parse_config("[markets.kfutures]\nspreads = false\n"), {"kfutures": ["A0166000"]})


@given(st.integers(0, 2000), st.integers(1, 300))
def test_chunks_respect_the_limit_and_are_balanced(n: int, per: int) -> None:
    regs = [Registration("kospi", "book", "H1_", f"{i:06d}") for i in range(n)]
    parts = chunk(regs, per)
    assert sorted(r for p in parts for r in p) == sorted(regs)
    assert all(0 < len(p) <= per for p in parts)
    if parts:
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


# -- against the simulator's real-size masters ------------------------------------------------


@pytest.fixture(scope="module")
def masters() -> dict[str, pa.Table]:
    async def fetch() -> dict[str, pa.Table]:
        async with Simulator(sim_settings(limits=VenueLimits(rest_rate_scale=50))) as sim:
            limits = with_overrides(TR_LIMITS, scale=50)
            async with RestClient.open(
                sim.rest_url, Credentials("k", "s"), limits=limits, clock=sim.clock
            ) as client:
                return {m: await fetch_master(client, m) for m in MARKETS}

    return asyncio.run(fetch())


def rows_of(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {r["symbol"]: r for r in table.to_pylist()}


def test_all_means_all(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config("".join(f"[markets.{m}]\n" for m in MARKETS if m != "kfutures"))
    sel = select_with_notes(cfg, masters)
    per_market = Counter(r.market for r in sel.registrations)
    for market in per_market:
        assert per_market[market] == masters[market].num_rows * len(cfg.channels_of(market))
    assert sel.notes == []


def test_stock_filters_count_what_they_remove(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config("[markets.kospi]\netf = false\netn = false\nspac = false\nchannels = ['trade']\n")
    sel = select_with_notes(cfg, masters)
    flags = Counter(
        (r["is_etf"], r["is_etn"], r["spac_gubun"])
        for r in masters["kospi"].select(["is_etf", "is_etn", "spac_gubun"]).to_pylist()
    )
    expected = sum(n for (etf, etn, spac), n in flags.items() if not etf and not etn and spac != "Y")
    assert len(sel.registrations) == expected == 2401 - 1048 - 393 - 10
    assert sel.notes == [
        "kospi: 1,048 ETFs excluded (etf = false)",
        "kospi: 393 ETNs excluded (etn = false)",
        "kospi: 10 SPACs excluded (spac = false)",
    ]
    rows = rows_of(masters["kospi"])
    assert not any(rows[r.symbol]["etfgubun"] in ("1", "2") for r in sel.registrations)


def test_only_the_etfs_flag(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config("[markets.kospi]\netn = false\nchannels = ['trade']\n")
    assert len(select(cfg, masters)) == 2401 - 393


def test_spreads_are_recorded_by_default_and_left_out_with_spreads_false(
    masters: dict[str, pa.Table],
) -> None:
    # Calendar spreads are listed instruments with their own book and trades: "all" means them too.
    default = select_with_notes(parse_config("[markets.kfutures]\nchannels = ['trade']\n"), masters)
    names = rows_of(masters["kfutures"])
    # The simulator lists what KRX lists on MIDDAY (2026-11-25): December's future still trades.
    assert [names[r.symbol]["hname"] for r in default.registrations] == [
        "F 2612", "F 2703", "F 2706", "F 2709", "F SP 12-2703", "F SP 03-2706", "F SP 06-2709",
    ]  # fmt: skip
    assert default.notes == []
    off_cfg = parse_config("[markets.kfutures]\nspreads = false\nchannels = ['trade']\n")
    off = select_with_notes(off_cfg, masters)
    assert [names[r.symbol]["hname"] for r in off.registrations] == ["F 2612", "F 2703", "F 2706", "F 2709"]
    assert off.notes == ["kfutures: 3 calendar spreads excluded (spreads = false)"]
    named = parse_config(
        '[markets.kfutures]\nsymbols = ["A016C000", "D016C73S"]\nspreads = false\nchannels = ["trade"]\n'
    )
    assert [r.symbol for r in select(named, masters)] == ["A016C000", "D016C73S"]  # named: kept
    assert names["D016C73S"]["hname"] == "F SP 12-2703"
    # Spreads count at their near leg: the nearest expiry holds the front future and the 12-03 spread.
    front = parse_config("[markets.kfutures]\nexpiries = 1\nchannels = ['trade']\n")
    assert [r.symbol for r in select(front, masters)] == ["A016C000", "D016C73S"]


def _strikes(symbols: list[str], rows: dict[str, dict[str, Any]]) -> list[Decimal]:
    return sorted({Decimal(rows[s]["hname"].split()[2]) for s in symbols})


def test_front_expiry_near_the_money_options(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config(
        "[markets.kfutures]\nexpiries = 1\nspreads = false\n"
        "[markets.koptions]\nexpiries = 1\nstrikes = 5\nchannels = ['trade']\n"
    )
    sel = select_with_notes(cfg, masters)
    assert [r.symbol for r in sel.registrations if r.market == "kfutures"] == ["A016C000"] * 2
    options = [r.symbol for r in sel.registrations if r.market == "koptions"]
    rows = rows_of(masters["koptions"])
    assert {rows[s]["hname"].split()[1] for s in options} == {FRONT}  # one expiry, the nearest
    strikes = _strikes(options, rows)
    assert len(strikes) == 11 and len(options) == 22  # 5 steps each side of at-the-money, calls and puts
    # At-the-money is the listed strike nearest the front future's previous close.
    close = rows_of(masters["kfutures"])["A016C000"]["jnilclose"]
    listed = sorted({Decimal(r["hname"].split()[2]) for r in rows.values() if FRONT in r["hname"]})
    atm = min(listed, key=lambda k: abs(k - close))
    assert strikes[5] == atm
    assert any("koptions:" in n and "beyond the nearest 1 expiries" in n for n in sel.notes)
    assert any("koptions:" in n and "more than 5 steps from at-the-money" in n for n in sel.notes)


def test_without_the_futures_master_at_the_money_is_where_calls_and_puts_cost_the_same(
    masters: dict[str, pa.Table],
) -> None:
    cfg = parse_config("[markets.koptions]\nexpiries = 1\nstrikes = 2\nchannels = ['book']\n")
    options = [r.symbol for r in select(cfg, {"koptions": masters["koptions"]})]
    rows = rows_of(masters["koptions"])
    calls = {
        Decimal(r["hname"].split()[2]): r["jnilclose"]
        for r in rows.values()
        if r["hname"][:6] == f"C {FRONT}"
    }
    puts = {
        Decimal(r["hname"].split()[2]): r["jnilclose"]
        for r in rows.values()
        if r["hname"][:6] == f"P {FRONT}"
    }
    parity = min(calls, key=lambda k: abs(calls[k] - puts[k]))
    assert _strikes(options, rows)[2] == parity and len(options) == 10


def test_options_without_prices_keep_every_strike_and_say_so(masters: dict[str, pa.Table]) -> None:
    table = masters["koptions"]
    zero = pa.array([Decimal(0)] * table.num_rows, type=table.schema.field("jnilclose").type)
    for name in ("jnilclose", "recprice"):
        table = table.set_column(table.schema.get_field_index(name), name, zero)
    cfg = parse_config("[markets.koptions]\nexpiries = 1\nstrikes = 2\nchannels = ['book']\n")
    sel = select_with_notes(cfg, {"koptions": table})
    assert len(sel.registrations) == sum(1 for h in table.column("hname").to_pylist() if f" {FRONT} " in h)
    assert any("at-the-money unknown" in n and FRONT in n for n in sel.notes)
    # No previous close (jnilclose 0) but a reference price: that price is used.
    table = masters["koptions"]
    table = table.set_column(table.schema.get_field_index("jnilclose"), "jnilclose", zero)
    sel = select_with_notes(cfg, {"koptions": table})
    assert len(sel.registrations) == 10 and not any("unknown" in n for n in sel.notes)


def test_overseas_expiries_count_per_product(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config('[markets.ofutures]\nproducts = ["ES", "CL"]\nexpiries = 1\nchannels = ["trade"]\n')
    sel = select_with_notes(cfg, masters)
    rows = rows_of(masters["ofutures"])
    kept = {rows[r.symbol]["BscGdsCd"]: r.symbol for r in sel.registrations}
    assert sorted(kept) == ["CL", "ES"] and len(sel.registrations) == 2
    for product, symbol in kept.items():
        listed = [r for r in rows.values() if r["BscGdsCd"] == product]
        front = min(listed, key=lambda r: (r["LstngYr"], "FGHJKMNQUVXZ".index(r["LstngM"])))
        assert symbol == front["symbol"]
    assert any("64 series of other products excluded" in n for n in sel.notes)


def test_overseas_options_products_expiries_and_strikes(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config(
        '[markets.ooptions]\nproducts = ["O_ES", "NQ"]\nexpiries = 1\nstrikes = 3\nchannels = ["book"]\n'
    )
    series = [r.symbol for r in select(cfg, masters)]
    assert len(series) == 2 * 7 * 2  # two products, 7 strikes, call and put
    rows = rows_of(masters["ooptions"])
    for product in ("O_ES", "O_NQ"):
        mine = [rows[s] for s in series if rows[s]["BscGdsCd"] == product]
        assert len({(r["LstngYr"], r["LstngM"]) for r in mine}) == 1
        strikes = sorted({r["XrcPrc"] for r in mine})
        listed = sorted({r["XrcPrc"] for r in rows.values() if r["BscGdsCd"] == product})
        base = mine[0]["FdasBasePrc"]
        atm = min(listed, key=lambda k: abs(k - base))
        assert strikes[3] == atm and len(strikes) == 7


def test_an_unknown_product_is_an_error(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config('[markets.ooptions]\nproducts = ["ES", "XX"]\n')
    with pytest.raises(ConfigError, match=r"markets\.ooptions\.products: \['XX'\] match no series"):
        select(cfg, masters)


def test_patterns_max_symbols_and_a_symbols_file(masters: dict[str, pa.Table], tmp_path: Path) -> None:
    codes = masters["kospi"].column("symbol").to_pylist()
    (tmp_path / "k200.txt").write_text(
        f"# two constituents\n{codes[0]}\n\n{codes[1]}  # a comment\n{codes[0]}\n", encoding="utf-8"
    )
    (tmp_path / "gatherer.toml").write_text(
        '[markets.kospi]\nsymbols_file = "k200.txt"\nchannels = ["book"]\n'
        '[markets.kfutures]\nsymbols = ["A016*"]\nchannels = ["book"]\n'
        '[markets.ooptions]\nsymbols = ["2ES*"]\nmax_symbols = 10\nchannels = ["book"]\n',
        encoding="utf-8",
    )
    cfg = load_config(tmp_path / "gatherer.toml")
    sel = select_with_notes(cfg, masters)
    assert [r.symbol for r in sel.registrations if r.market == "kospi"] == codes[:2]
    assert [r.symbol for r in sel.registrations if r.market == "kfutures"] == [
        s for s in masters["kfutures"].column("symbol").to_pylist() if s.startswith("A016")
    ]
    assert len([r for r in sel.registrations if r.market == "ooptions"]) == 10
    assert "ooptions: 590 codes beyond max_symbols = 10 excluded" in sel.notes


def test_a_list_joins_the_file_and_patterns_that_match_nothing_are_errors(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("035420\n", encoding="utf-8")
    cfg = parse_config(
        f'[markets.kospi]\nsymbols = ["005930"]\nsymbols_file = "{tmp_path / "list.txt"}"\n', base=tmp_path
    )
    assert cfg.markets["kospi"].symbols == ["005930", "035420"]
    assert {r.symbol for r in select(cfg, MASTERS)} == {"005930", "035420"}
    with pytest.raises(ConfigError, match=r"match nothing in today.s kospi master: 9\*"):
        select(parse_config('[markets.kospi]\nsymbols = ["9*"]\n'), MASTERS)


def test_symbols_file_problems_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"markets\.kospi\.symbols_file: '.*nope\.txt' does not exist"):
        parse_config('[markets.kospi]\nsymbols_file = "nope.txt"\n', base=tmp_path)
    (tmp_path / "empty.txt").write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"markets\.kospi\.symbols_file: .* holds no codes"):
        parse_config('[markets.kospi]\nsymbols_file = "empty.txt"\n', base=tmp_path)
    # A config built in code, never loaded: planning does not read files, and says so.
    cfg = Config(markets={"kospi": MarketConfig(symbols_file=str(tmp_path / "empty.txt"))})
    with pytest.raises(ConfigError, match="symbols_file: not read"):
        select(cfg, MASTERS)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[markets.kospi]\nstrikes = 3\n", r"markets\.kospi\.strikes: applies only to koptions, ooptions"),
        ("[markets.kospi]\nspreads = false\n", r"markets\.kospi\.spreads: applies only to kfutures"),
        ("[markets.koptions]\nstrikes = -1\n", r"markets\.koptions\.strikes: -1; .* at least 0"),
        ("[markets.ofutures]\nexpiries = 0\n", r"markets\.ofutures\.expiries: 0; .* at least 1"),
        ("[markets.ofutures]\nproducts = []\n", r"markets\.ofutures\.products: empty"),
        ('[markets.ofutures]\nproducts = [" ES"]\n', r"markets\.ofutures\.products: \[' ES'\]"),
        ("[run]\nworkers = 0\n", r"run\.workers: 0; expected at least 1"),
        ("[run]\nthreads = 2\n", r"run.*threads"),
    ],
)
def test_new_fields_are_validated_by_name(toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(toml)


# -- the example configs ----------------------------------------------------------------------


def test_the_full_market_example_fits_with_the_app_keys_it_states(masters: dict[str, pa.Table]) -> None:
    path = EXAMPLES / "full-market.toml"
    cfg = load_config(path)
    stated = re.search(r"needs (\d+) app keys", path.read_text(encoding="utf-8"))
    assert stated is not None
    sel = select_with_notes(cfg, masters)
    per_market = Counter(r.market for r in sel.registrations)
    assert per_market == {
        "kospi": 2401 * 3,
        "kosdaq": 1811 * 3,
        "kfutures": (4 + 3) * 2,  # the calendar spreads too
        "koptions": 5236 * 2,
        "ofutures": 72 * 2,
        "ooptions": 16_800 * 2,
    }
    assert sum(per_market.values()) == 56_866  # the number the comment states
    v = cfg.venue
    assert cfg.run.workers is not None
    limits = Limits(
        v.connections_per_key, v.registrations_per_connection, v.registrations_per_s, cfg.run.workers
    )
    plan = pack(sel.registrations, app_keys=int(stated.group(1)), limits=limits)
    assert plan.fits, explain(sel, plan)
    takes = re.search(r"the keys in parallel: about (\d+) s", path.read_text(encoding="utf-8"))
    assert takes is not None and abs(plan.registration_seconds - int(takes.group(1))) < 1
    # One app key fewer than 95 would not do: the comment's arithmetic is the plan's.
    assert not pack(sel.registrations, app_keys=94, limits=limits).fits


def test_the_k200_example_fits_one_app_key(masters: dict[str, pa.Table], tmp_path: Path) -> None:
    # The shipped list holds real constituents; the simulator has other codes.
    codes = masters["kospi"].filter(pc.invert(masters["kospi"].column("is_etf"))).column("symbol")
    (tmp_path / "kospi200.txt").write_text("\n".join(codes.to_pylist()[:200]), encoding="utf-8")
    (tmp_path / "k200-front.toml").write_text((EXAMPLES / "k200-front.toml").read_text(encoding="utf-8"))
    cfg = load_config(tmp_path / "k200-front.toml")
    sel = select(cfg, masters)
    assert len(sel) == 200 * 2 + 2 + 21 * 2 * 2 == 486  # as the comment says
    v = cfg.venue
    plan = pack(sel, app_keys=1, limits=Limits(v.connections_per_key, v.registrations_per_connection, 20.0))
    takes = re.search(r"takes about (\d+) s", (EXAMPLES / "k200-front.toml").read_text(encoding="utf-8"))
    assert takes is not None and plan.fits and abs(plan.registration_seconds - int(takes.group(1))) < 1
    assert load_config(EXAMPLES / "k200-front.toml").markets["kospi"].symbols  # the shipped list parses
