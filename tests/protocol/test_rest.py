"""The real REST client against the simulator's REST routes on 127.0.0.1 (LS_OPENAPI.md §1, §4).

No mocks of the protocol: every test starts ``add_rest_routes`` on an ephemeral port and talks
to it with ``RestClient``. Rates run ``RATE_SCALE`` times faster than LS's on both sides.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import aiohttp
import pyarrow as pa
import pytest
from aiohttp import web

from gatherer.clock import Clock, ManualClock, SystemClock, seoul_ns
from gatherer.errors import ApiError, AuthError, ConfigError, ConnectError, RateLimited
from gatherer.sim.rest_api import RestContext, add_rest_routes
from gatherer.sim.state import Credentials as SimCredentials
from gatherer.sim.state import Faults, TokenRegistry, VenueLimits
from gatherer.sim.universe import Universe, build_universe
from gatherer.venues.ls.auth import (
    Credentials,
    Token,
    credentials_from_env,
    issue_token,
    jwt_exp_ns,
    revoke_token,
    token_from_response,
)
from gatherer.venues.ls.masters import fetch_master, to_decimal, to_int
from gatherer.venues.ls.ratelimit import TR_LIMITS, RateLimiter, backoff_s, wait_s, window, with_overrides
from gatherer.venues.ls.rest import RestClient, continuation_fields

from ..conftest import MIDDAY

APPKEY = "PSsimAPPKEY0000000000000000000000000"
SECRET = "simSECRETsimSECRETsimSECRETsimSECRE"
CREDS = Credentials(APPKEY, SECRET)
RATE_SCALE = 20.0
CLIENT_LIMITS = with_overrides(TR_LIMITS, scale=RATE_SCALE)


@dataclass
class Venue:
    ctx: RestContext
    base_url: str


@pytest.fixture(scope="module")
def universe() -> Universe:
    return build_universe(seed=7, as_of=MIDDAY.date())


@asynccontextmanager
async def serve(
    universe: Universe, *, clock: Clock | None = None, limits: VenueLimits | None = None
) -> AsyncIterator[Venue]:
    clock = clock or SystemClock()
    ctx = RestContext(
        tokens=TokenRegistry(clock, SimCredentials(APPKEY, SECRET)),
        limits=limits or VenueLimits(rest_rate_scale=RATE_SCALE),
        faults=Faults(),
        universe=universe,
        clock=clock,
    )
    app = web.Application()
    add_rest_routes(app, ctx)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Venue(ctx, f"http://{host}:{port}")
    finally:
        await runner.cleanup()


@pytest.fixture
async def venue(universe: Universe) -> AsyncIterator[Venue]:
    async with serve(universe) as v:
        yield v


def _open(venue: Venue, *, creds: Credentials = CREDS, **kw: Any) -> AbstractAsyncContextManager[RestClient]:
    kw.setdefault("limits", CLIENT_LIMITS)
    kw.setdefault("rnd", random.Random(1))
    return RestClient.open(venue.base_url, creds, **kw)


# --- pure pieces -------------------------------------------------------------------------------


def test_wait_s_allows_per_s_calls_per_window_then_waits_for_the_oldest() -> None:
    assert wait_s([], 10.0, 2) == 0.0
    assert wait_s([9.5], 10.0, 2) == 0.0
    assert wait_s([9.5, 9.8], 10.0, 2) == pytest.approx(0.5)
    assert wait_s([8.0, 9.0], 10.0, 2) == 0.0
    assert window(0.5) == (1, 2.0)
    assert wait_s([9.0], 10.0, 0.5) == pytest.approx(1.0)


def test_backoff_is_capped_and_jittered_from_the_given_generator() -> None:
    a = [backoff_s(i, base_s=1.0, cap_s=8.0, rnd=random.Random(3)) for i in range(8)]
    b = [backoff_s(i, base_s=1.0, cap_s=8.0, rnd=random.Random(3)) for i in range(8)]
    assert a == b
    assert all(0.5 <= x <= 8.0 for x in a)
    assert a[-1] >= 4.0


def test_credentials_from_env_names_the_missing_variable_and_never_the_value() -> None:
    with pytest.raises(ConfigError, match="GATHERER_LS_APPSECRET") as err:
        credentials_from_env({"GATHERER_LS_APPKEY": APPKEY})
    assert APPKEY not in str(err.value)
    creds = credentials_from_env({"GATHERER_LS_APPKEY": APPKEY, "GATHERER_LS_APPSECRET": SECRET})
    assert (creds.appkey, creds.appsecret) == (APPKEY, SECRET)
    assert APPKEY not in repr(creds) and SECRET not in repr(creds)


def test_token_lifetime_comes_from_the_jwt_else_expires_in_and_counts_from_arrival() -> None:
    with open("tests/fixtures/ls_examples/token.json", encoding="utf-8") as f:
        example = json.load(f)["response"]
    token = token_from_response(example, now_ns=0)
    assert token.expires_ns == (1686714556 - 1686628156) * 1_000_000_000  # the example JWT's exp - iat
    assert example["access_token"] not in repr(token)
    plain = token_from_response({"access_token": "opaque", "expires_in": 86400}, now_ns=5)
    assert plain.expires_ns == 5 + 86400 * 1_000_000_000


def test_decimal_and_int_parsing_is_exact_and_tolerant() -> None:
    assert to_decimal("0.000050000", 9) == Decimal("0.00005")
    assert to_decimal(Decimal("346.2"), 2) == Decimal("346.20")
    assert to_decimal(" ", 2) is None and to_int("") is None
    assert to_int("00001") == 1 and to_int(10550) == 10550
    with pytest.raises(ValueError):
        to_decimal("1.234", 2)
    with pytest.raises(ValueError):
        to_decimal(0.1, 2)


async def test_rate_limiter_waits_by_the_injected_clock() -> None:
    clock = ManualClock(0)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    limiter = RateLimiter(clock, TR_LIMITS, margin_s=0.0, sleep=sleep)
    stamps = []
    for _ in range(5):
        async with limiter.turn("t8436"):  # 2 per second
            stamps.append(clock.monotonic())
    assert stamps == [0.0, 0.0, 1.0, 1.0, 2.0]
    assert waits == [1.0, 1.0]


async def test_a_call_s_slot_counts_from_its_answer_not_its_send() -> None:
    # The venue stamps a call when it arrives, anywhere between our send and its answer: the next
    # window opens a full window after the answer, whenever the send was.
    clock = ManualClock(0)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    limiter = RateLimiter(clock, TR_LIMITS, margin_s=0.0, sleep=sleep)
    sent: list[float] = []
    for _ in range(2):  # t8436: 2 per second; each answer takes 0.7 s
        async with limiter.turn("t8436"):
            sent.append(clock.monotonic())
            clock.advance(0.7)
    async with limiter.turn("t8436"):
        sent.append(clock.monotonic())
    assert sent == [0.0, 0.7, pytest.approx(1.7)]  # 1 s after the first answer (0.7), not the send (0)


async def test_when_every_slot_is_in_flight_the_next_call_waits_for_an_answer() -> None:
    clock = ManualClock(0)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    limiter = RateLimiter(clock, TR_LIMITS, margin_s=0.0, sleep=sleep)
    answered = asyncio.Event()
    order: list[str] = []

    async def slow(name: str) -> None:
        async with limiter.turn("o3121"):  # 1 per second
            order.append(f"{name} sent at {clock.monotonic():g}")
            await answered.wait()
            clock.advance(3.0)  # the answer took 3 s

    first = asyncio.create_task(slow("first"))
    second = asyncio.create_task(slow("second"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert order == ["first sent at 0"]  # the second waits although no window has been measured yet
    answered.set()
    await asyncio.gather(first, second)
    assert order == ["first sent at 0", "second sent at 4"]  # a window after the first answer (3)


def test_continuation_copies_cts_fields_of_single_object_outblocks() -> None:
    body = {"rsp_cd": "00000", "t1301OutBlock": {"cts_time": "0930001"}, "t1301OutBlock1": [{"price": 1}]}
    assert continuation_fields(body, "t1301") == {"cts_time": "0930001"}


async def test_unreachable_venue_is_a_connect_error() -> None:
    with pytest.raises(ConnectError, match="oauth2/token"):
        async with RestClient.open("http://127.0.0.1:9", CREDS, limits=CLIENT_LIMITS):
            pass


# --- token -------------------------------------------------------------------------------------


async def test_token_expires_at_seven_kst_next_day(universe: Universe) -> None:
    clock = ManualClock(seoul_ns(dt.date(2026, 5, 15), dt.time(9, 14)))
    async with serve(universe, clock=clock) as v, _open(v, clock=clock) as client:
        token = await client.token()
        assert token.expires_ns == seoul_ns(dt.date(2026, 5, 16), dt.time(7, 0))
        assert token.access_token not in repr(token) and token.access_token not in repr(client)


@pytest.mark.parametrize("venue_ahead_days", [-400, 400])
async def test_a_venue_clock_a_year_off_does_not_make_the_token_look_expired(
    universe: Universe, venue_ahead_days: int
) -> None:
    ours = ManualClock(seoul_ns(dt.date(2026, 5, 15), dt.time(9, 14)))
    venue = ManualClock(seoul_ns(dt.date(2026, 5, 15) + dt.timedelta(days=venue_ahead_days), dt.time(9, 14)))
    async with serve(universe, clock=venue) as v, _open(v, clock=ours) as client:
        token = await client.token()
        # 21 h 46 min of life (to 07:00 KST next day at the venue), from our 09:14.
        assert token.expires_ns == seoul_ns(dt.date(2026, 5, 16), dt.time(7, 0))
        for _ in range(3):
            await client.call("o3121", {"MktGb": "O", "BscGdsCd": ""})
        assert client.token_issues_total == 1
        ours.set(seoul_ns(dt.date(2026, 5, 16), dt.time(6, 56)))  # within the 5-minute margin, ours
        venue.advance(21 * 3600 + 42 * 60)
        await client.call("o3121", {"MktGb": "O", "BscGdsCd": ""})
        assert client.token_issues_total == 2


async def test_token_near_expiry_is_reissued_before_the_call(universe: Universe) -> None:
    clock = ManualClock(seoul_ns(dt.date(2026, 5, 15), dt.time(9, 0)))
    async with serve(universe, clock=clock) as v, _open(v, clock=clock) as client:
        first = await client.token()
        clock.set(seoul_ns(dt.date(2026, 5, 16), dt.time(6, 58)))  # inside the 5-minute margin
        await client.call("o3121", {"MktGb": "O", "BscGdsCd": ""})
        assert client.token_issues_total == 2
        assert (await client.token()).expires_ns == seoul_ns(dt.date(2026, 5, 17), dt.time(7, 0))
        clock.advance(180)  # 07:01: the first token has expired at the venue, the new one has not
        assert v.ctx.tokens.check(first.access_token) is None
        await client.call("o3121", {"MktGb": "O", "BscGdsCd": ""})
        assert client.token_issues_total == 2


async def test_a_refused_token_is_reissued_once_however_often_it_is_reported(venue: Venue) -> None:
    from gatherer.venues.ls.auth import token_fingerprint

    async with _open(venue) as client:
        first = await client.token()
        stale = token_fingerprint(first.access_token)
        assert len(stale) == 12 and stale not in first.access_token
        second = await client.reissue(stale)
        assert second.access_token != first.access_token
        assert (await client.reissue(stale)).access_token == second.access_token  # a late report
        assert client.token_issues_total == 2


async def test_wrong_credentials_are_refused_with_a_clear_auth_error(venue: Venue) -> None:
    bad = Credentials(APPKEY, "wrong-secret-value")
    with pytest.raises(AuthError) as err:
        async with _open(venue, creds=bad):
            pass
    text = str(err.value)
    assert "IGW00121" in text and "HTTP 500" in text
    assert "wrong-secret-value" not in text and APPKEY not in text


async def test_revoke_invalidates_the_token(venue: Venue) -> None:
    async with aiohttp.ClientSession() as http:
        token = await issue_token(http, venue.base_url, APPKEY, SECRET)
        assert venue.ctx.tokens.check(token.access_token) is not None
        await revoke_token(http, venue.base_url, APPKEY, SECRET, token)
        assert venue.ctx.tokens.check(token.access_token) is None


async def test_closing_the_client_revokes_its_token(venue: Venue) -> None:
    async with _open(venue) as client:
        token: Token = await client.token()
    assert venue.ctx.tokens.check(token.access_token) is None


async def test_expired_token_is_reissued_once_and_the_call_succeeds(venue: Venue) -> None:
    async with _open(venue) as client:
        await client.token()
        assert venue.ctx.tokens.expire_all() == 1
        bodies = await client.call("o3121", {"MktGb": "O", "BscGdsCd": ""})
        assert bodies[0]["rsp_cd"] == "00000"
        assert client.token_issues_total == 2


# --- masters at real sizes ---------------------------------------------------------------------


async def test_every_master_at_real_size_with_exact_types(venue: Venue, universe: Universe) -> None:
    async with _open(venue) as client:
        everything = await client.call("t8436", {"gubun": "0"})
        assert len(everything[0]["t8436OutBlock"]) > 4_000
        tables = {m: await fetch_master(client, m) for m in universe.instruments}
    kospi = tables["kospi"]
    assert kospi.num_rows == 2_401 and tables["kosdaq"].num_rows == 1_811
    assert sum(kospi.column("is_etf").to_pylist()) == 1_048
    assert sum(kospi.column("is_etn").to_pylist()) == 393
    assert kospi.schema.field("jnilclose").type == pa.int64()
    assert tables["koptions"].num_rows > 5_000
    assert tables["ooptions"].num_rows >= 15_000
    assert tables["kfutures"].schema.metadata[b"tr_cd"] == b"t8467"
    assert tables["kfutures"].schema.field("recprice").type == pa.decimal128(12, 2)
    assert tables["ofutures"].schema.field("UntPrc").type == pa.decimal128(24, 9)
    for market, table in tables.items():
        expected = [i.symbol for i in universe.instruments[market]]
        assert table.column("symbol").to_pylist() == expected, market
        assert set(table.column("market").to_pylist()) == {market}
    # Row by row, prices equal the simulator's reference prices exactly.
    for market, price_col in [("kospi", "jnilclose"), ("koptions", "jnilclose"), ("ofutures", "EcPrc")]:
        got = tables[market].column(price_col).to_pylist()
        assert got == [i.ref_price for i in universe.instruments[market]], market
    oopt = tables["ooptions"]
    assert oopt.column("XrcPrc").to_pylist() == [i.strike for i in universe.instruments["ooptions"]]
    assert oopt.schema.field("DotGb").type == pa.int32()


async def test_kfutures_falls_back_to_t8432_when_the_venue_refuses_t8467(venue: Venue) -> None:
    venue.ctx.disabled_trs.add("t8467")
    async with _open(venue) as client:
        table = await fetch_master(client, "kfutures")
    assert table.schema.metadata[b"tr_cd"] == b"t8432"
    assert table.num_rows == len(venue.ctx.universe.instruments["kfutures"])


async def test_paged_masters_equal_unpaged(venue: Venue) -> None:
    async with _open(venue) as client:
        whole = {m: await fetch_master(client, m) for m in ("kospi", "koptions", "ofutures")}
        venue.ctx.limits = replace(venue.ctx.limits, master_page_rows=500)
        before = dict(venue.ctx.calls_total)
        paged = {m: await fetch_master(client, m) for m in ("kospi", "koptions", "ofutures")}
        pages = await client.call("t8436", {"gubun": "1"})
    assert len(pages) == 5 and all(len(p["t8436OutBlock"]) <= 500 for p in pages)
    assert venue.ctx.calls_total["t8433"] - before["t8433"] == 11  # 5,236 rows / 500
    for market in whole:
        assert paged[market].equals(whole[market]), market


# --- rate limits -------------------------------------------------------------------------------


async def test_limiter_keeps_calls_within_the_venue_limit(venue: Venue) -> None:
    assert CLIENT_LIMITS["o3121"].per_s == 20
    async with _open(venue) as client:
        start = time.monotonic()
        await asyncio.gather(*(client.call("o3121", {"MktGb": "O", "BscGdsCd": ""}) for _ in range(30)))
        elapsed = time.monotonic() - start
    assert venue.ctx.rate_limited_total == 0 and client.rate_limited_total == 0
    assert elapsed >= 1.0  # 30 calls at 20/s: the second batch waited out a full window


async def test_forced_rate_limit_is_retried_and_succeeds(venue: Venue) -> None:
    venue.ctx.faults.rest_rate_limited = 2
    async with _open(venue) as client:
        bodies = await client.call("o3101", {"gubun": ""})
    assert bodies[0]["rsp_cd"] == "00000"
    assert client.rate_limited_total == 2 and venue.ctx.rate_limited_total == 2


async def test_persistent_rate_limit_raises_rate_limited_after_bounded_retries(venue: Venue) -> None:
    venue.ctx.faults.rest_rate_limited = 100
    async with _open(venue, max_rate_retries=2) as client:
        with pytest.raises(RateLimited) as err:
            await client.call("o3101", {"gubun": ""})
    assert err.value.rsp_cd == "IGW00201" and "호출 거래건수를 초과하였습니다." in str(err.value)
    assert venue.ctx.rate_limited_total == 3


# --- errors ------------------------------------------------------------------------------------


async def test_non_success_rsp_cd_raises_api_error_without_secrets(venue: Venue) -> None:
    async with _open(venue) as client:
        token = (await client.token()).access_token
        with pytest.raises(ApiError) as err:
            await client.call("o3121", {"MktGb": "O"})
        text = str(err.value)
        assert err.value.rsp_cd == "IGW40014" and err.value.http_status == 500
        assert "o3121" in text and "IGW40014" in text and "BscGdsCd" in text
        for secret in (token, SECRET, APPKEY):
            assert secret not in text
        with pytest.raises(ApiError, match="IGW00312"):
            await client.call("t8436", {"gubun": "1"}, path="/futureoption/market-data")
        with pytest.raises(ApiError, match="IGW00311"):
            await client.call("t9999", {"x": ""}, path="/stock/etc")


async def test_requests_without_a_valid_bearer_token_are_refused(venue: Venue) -> None:
    async with aiohttp.ClientSession() as http:
        for auth in (None, "Bearer not-a-token"):
            headers = {"tr_cd": "t8436", "tr_cont": "N", "tr_cont_key": ""}
            if auth:
                headers["authorization"] = auth
            async with http.post(
                venue.base_url + "/stock/etc", json={"t8436InBlock": {"gubun": "1"}}, headers=headers
            ) as resp:
                body = await resp.json()
                assert resp.status == 500 and body["rsp_cd"].startswith("IGW")
                assert resp.headers["tr_cd"] == "t8436" and "tr_cont" in resp.headers


def test_sim_token_is_a_jwt_with_unogw_issuer() -> None:
    registry = TokenRegistry(ManualClock(seoul_ns(dt.date(2026, 5, 15), dt.time(12, 0))))
    issued = registry.issue(APPKEY)
    payload = issued.token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == "unogw"
    assert jwt_exp_ns(issued.token) == seoul_ns(dt.date(2026, 5, 16), dt.time(7, 0))


async def test_night_master_and_traded_values(venue: Venue, universe: Universe) -> None:
    from gatherer.venues.ls.liquidity import fetch_values
    from gatherer.venues.ls.masters import fetch_night_master

    async with _open(venue) as client:
        futures = await fetch_night_master(client, "kfutures")
        options = await fetch_night_master(client, "koptions")
        stocks = [i.symbol for i in universe.instruments["kospi"][:120]]
        values = await fetch_values(client, "kospi", [*stocks, "999999"])
        with pytest.raises(ApiError, match="t8407"):  # nrec must match the codes sent
            await client.call("t8407", {"nrec": 3, "shcode": stocks[0]})
    listed = [i.symbol for i in universe.instruments["kfutures"] if i.kind == "future"]
    assert futures.column("symbol").to_pylist() == listed  # t8455 NFU: the futures, no spreads
    assert set(futures.column("gubun").to_pylist()) == {"NFU"}
    assert futures.schema.metadata[b"tr_cd"] == b"t8455"
    assert futures.schema.field("tradeunit").type == pa.decimal128(30, 8)
    assert 0 < options.num_rows < len(universe.instruments["koptions"])
    assert set(options.column("atmgb").to_pylist()) == {"1", "2", "3"}
    # 50 codes a call (three calls), every code answered in order; one LS does not know gets 0.
    got = values.column("value").to_pylist()
    assert values.column("symbol").to_pylist() == [*stocks, "999999"]
    assert got[-1] == 0 and all(v > 0 for v in got[:-1]) and len(set(got)) > 100
