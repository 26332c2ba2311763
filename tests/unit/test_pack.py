"""Packing within the venue limits, and selection filters against the simulator's real-size masters."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatherer.config import parse_config
from gatherer.plan.explain import explain
from gatherer.plan.pack import Limits, pack
from gatherer.plan.select import Registration, select, select_with_notes
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.masters import fetch_master
from gatherer.venues.ls.ratelimit import TR_LIMITS, with_overrides
from gatherer.venues.ls.rest import RestClient

from ..conftest import sim_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def regs(n: int) -> list[Registration]:
    return [Registration("kospi", "book", "H1_", f"{i:06d}") for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 3000),
    keys=st.integers(1, 6),
    cpk=st.integers(1, 8),
    rpc=st.integers(1, 300),
    workers=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_packing_respects_every_limit_and_is_deterministic(
    n: int, keys: int, cpk: int, rpc: int, workers: int, seed: int
) -> None:
    limits = Limits(
        connections_per_key=cpk, registrations_per_connection=rpc, registrations_per_s=50, workers=workers
    )
    given_regs = regs(n)
    plan = pack(given_regs, app_keys=keys, limits=limits)
    shuffled = list(given_regs)
    random.Random(seed).shuffle(shuffled)
    assert pack(shuffled, app_keys=keys, limits=limits) == plan
    placed = [r for c in plan.connections for r in c.registrations]
    assert sorted(placed + list(plan.unplaced)) == sorted(given_regs)
    assert len(set(placed)) == len(placed)
    assert len(placed) == min(n, keys * cpk * rpc)
    assert all(0 < len(c.registrations) <= rpc for c in plan.connections)
    per_key = [len(v) for v in plan.by_key().values()]
    assert all(k <= cpk for k in per_key)
    assert all(0 <= c.key_index < keys and 0 <= c.worker < workers for c in plan.connections)
    if plan.connections:
        sizes = [len(c.registrations) for c in plan.connections]
        assert max(sizes) - min(sizes) <= 1
        assert max(per_key) - min(per_key) <= 1
        loads = [sum(len(c.registrations) for c in v) for v in plan.by_worker().values()]
        assert max(loads) - min(loads) <= rpc


def test_explain_says_what_does_not_fit_and_what_to_change() -> None:
    limits = Limits(connections_per_key=3, registrations_per_connection=200, registrations_per_s=20)
    plan = pack(regs(1000), app_keys=1, limits=limits)
    text = explain(regs(1000), plan)
    assert not plan.fits and len(plan.unplaced) == 400
    assert "DOES NOT FIT" in text and "1 x 3 x 200 = 600" in text and "use 2 app keys" in text
    fitting = pack(regs(500), app_keys=1, limits=limits)
    assert "the plan fits" in explain(regs(500), fitting) and "25 s" in explain(regs(500), fitting)


@pytest.fixture(scope="module")
def masters() -> dict[str, pa.Table]:
    async def fetch() -> dict[str, pa.Table]:
        async with Simulator(sim_settings(limits=VenueLimits(rest_rate_scale=50))) as sim:
            limits = with_overrides(TR_LIMITS, scale=50)
            async with RestClient.open(sim.rest_url, Credentials("k", "s"), limits=limits) as client:
                names = ("kospi", "kosdaq", "kfutures", "koptions", "ofutures", "ooptions")
                return {m: await fetch_master(client, m) for m in names}

    return asyncio.run(fetch())


def test_stock_filters_count_what_they_remove(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config("[markets.kospi]\netf = false\netn = false\nspac = false\nchannels = ['trade']\n")
    sel = select_with_notes(cfg, masters)
    table = masters["kospi"]
    flags = Counter(
        (r["is_etf"], r["is_etn"], r["spac_gubun"])
        for r in table.select(["is_etf", "is_etn", "spac_gubun"]).to_pylist()
    )
    expected = sum(n for (etf, etn, spac), n in flags.items() if not etf and not etn and spac != "Y")
    assert len(sel.registrations) == expected
    assert any("1,048 ETFs excluded" in n for n in sel.notes)
    assert any("393 ETNs excluded" in n for n in sel.notes)


def test_front_expiry_near_the_money_options(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config(
        "[markets.kfutures]\nexpiries = 1\nspreads = false\n"
        "[markets.koptions]\nexpiries = 1\nstrikes = 5\nchannels = ['trade']\n"
    )
    sel = select(cfg, masters)
    futures = {r.symbol for r in sel if r.market == "kfutures"}
    assert len(futures) == 1
    options = [r.symbol for r in sel if r.market == "koptions"]
    rows = {r["symbol"]: r for r in masters["koptions"].to_pylist()}
    names = [rows[s]["hname"].split() for s in options]
    assert len({n[1] for n in names}) == 1  # one expiry
    strikes = sorted({Decimal(n[2]) for n in names})
    assert len(strikes) == 11 and len(options) == 22  # 5 steps each side of at-the-money, calls and puts
    front_close = min(
        (r for r in masters["kfutures"].to_pylist() if not r["hname"].startswith("F SP")),
        key=lambda r: r["hname"],
    )["jnilclose"]
    assert strikes[0] <= front_close <= strikes[-1]


def test_overseas_products_expiries_and_strikes(masters: dict[str, pa.Table]) -> None:
    cfg = parse_config(
        '[markets.ofutures]\nproducts = ["ES", "NQ"]\nexpiries = 1\n'
        '[markets.ooptions]\nproducts = ["O_ES"]\nexpiries = 1\nstrikes = 3\nchannels = ["book"]\n'
    )
    sel = select(cfg, masters)
    assert sorted(r.symbol[:2] for r in sel if r.market == "ofutures" and r.channel == "trade") == [
        "ES",
        "NQ",
    ]
    series = [r.symbol for r in sel if r.market == "ooptions"]
    assert len(series) == 14 and all(s[1:3] == "ES" for s in series)  # 7 strikes x call/put


def test_patterns_and_a_symbols_file(masters: dict[str, pa.Table], tmp_path: Path) -> None:
    codes = masters["kospi"].column("symbol").to_pylist()
    path = tmp_path / "k200.txt"
    path.write_text(f"# two constituents\n{codes[0]}\n{codes[1]}  # a comment\n", encoding="utf-8")
    cfg = parse_config(f'[markets.kospi]\nsymbols_file = "{path}"\nchannels = ["book"]\n'
                       '[markets.kfutures]\nsymbols = ["A016*"]\n')  # fmt: skip
    sel = select(cfg, masters)
    assert [r.symbol for r in sel if r.market == "kospi"] == codes[:2]
    assert {r.symbol for r in sel if r.market == "kfutures"} == {
        s for s in masters["kfutures"].column("symbol").to_pylist() if s.startswith("A016")
    }


def test_filters_on_the_wrong_market_are_config_errors() -> None:
    from gatherer.errors import ConfigError

    with pytest.raises(ConfigError, match=r"markets\.kospi\.strikes: applies only to koptions, ooptions"):
        parse_config("[markets.kospi]\nstrikes = 3\n")


@pytest.mark.parametrize("name", ["full-market.toml", "k200-front.toml"])
def test_example_configs_plan_into_a_fitting_plan(
    masters: dict[str, pa.Table], name: str, tmp_path: Path
) -> None:
    from gatherer.config import load_config

    path = EXAMPLES / name
    if name == "k200-front.toml":
        # The shipped list holds real constituents; the simulator has other codes.
        (tmp_path / "kospi200.txt").write_text("\n".join(masters["kospi"].column("symbol").to_pylist()[:200]))
        path = tmp_path / name
        path.write_text((EXAMPLES / name).read_text(encoding="utf-8"), encoding="utf-8")
    cfg = load_config(path)
    sel = select(cfg, masters)
    keys = 1 if name == "k200-front.toml" else 38
    v = cfg.venue
    limits = Limits(v.connections_per_key, v.registrations_per_connection, v.registrations_per_s, workers=2)
    plan = pack(sel, app_keys=keys, limits=limits)
    assert plan.fits, explain(sel, plan)
    if name == "full-market.toml":
        assert len(sel) > 55_000
