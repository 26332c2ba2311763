"""The WebSocket client against the simulated venue on loopback: registrations, acks,
refusals, limits, streaming and faults. No mocks: the real Session, the real simulator."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from gatherer.errors import SessionLost, SubscriptionRefused
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.sim.ws_protocol import (
    BAD_TOKEN,
    TOO_FAST,
    TOO_MANY_CONNECTIONS,
    TOO_MANY_REGISTRATIONS,
    UNKNOWN_TR,
)
from gatherer.venues.ls.auth import issue_token
from gatherer.venues.ls.catalog import CATALOG, MARKET_CHANNELS
from gatherer.venues.ls.keys import format_tr_key
from gatherer.venues.ls.ws import Session

from ..conftest import MIDDAY, sim_settings
from ..helpers.session import WAIT_S, Recorder


async def token_for(sim: Simulator, appkey: str = "app-key-a") -> str:
    async with aiohttp.ClientSession() as http:
        token = await issue_token(http, sim.rest_url, appkey, "app-secret", clock=sim.clock)
    return token.access_token


def sample_symbol(sim: Simulator, market: str) -> str:
    insts = sim.universe.instruments[market]
    kinds = {"kfutures": "future"}
    wanted = kinds.get(market)
    for inst in insts:
        if wanted is None or inst.kind == wanted:
            return inst.symbol
    raise AssertionError(f"no instrument in {market}")


async def test_every_market_channel_is_acknowledged_and_streams_its_table(sim: Simulator) -> None:
    token = await token_for(sim)
    rec = Recorder()
    session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
    pairs = []
    for market, channels in MARKET_CHANNELS.items():
        symbol = sample_symbol(sim, market)
        for tr_cd in channels.values():
            pairs.append((tr_cd, format_tr_key(tr_cd, symbol)))
    acks = await session.subscribe_many(token, pairs)
    assert [(a.tr_cd, a.tr_key) for a in acks] == pairs
    assert all(a.accepted for a in acks), [a for a in acks if not a.accepted]
    await rec.until(lambda: all(rec.data.get(p) for p in pairs))
    for tr_cd, tr_key in pairs:
        names = set(CATALOG[tr_cd].names)
        for body in rec.data[(tr_cd, tr_key)]:
            assert set(body) == names, (tr_cd, set(body) ^ names)
            assert all(isinstance(v, str) for v in body.values()), tr_cd
    await session.close()


@pytest.mark.parametrize(
    "tr_cd",
    sorted(
        tr
        for tr, spec in CATALOG.items()
        if spec.markets and spec.channel != "auction" and spec.session == "day"
    ),
)
async def test_each_tr_registers_with_its_key_format_and_streams(sim: Simulator, tr_cd: str) -> None:
    spec = CATALOG[tr_cd]
    market = spec.markets[0]
    symbol = sample_symbol(sim, market)
    tr_key = format_tr_key(tr_cd, symbol)
    token = await token_for(sim)
    rec = Recorder()
    session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
    ack = await session.subscribe(token, tr_cd, tr_key, check=True)
    assert ack.accepted and ack.rsp_cd == "00000" and ack.tr_type == "3"
    await rec.until(lambda: bool(rec.data.get((tr_cd, tr_key))))
    body = rec.data[(tr_cd, tr_key)][0]
    assert set(body) == set(spec.names)
    await session.close()


async def test_night_trs_stream_futures_and_options_at_night_and_not_by_day() -> None:
    # 22:00 on a KRX session evening (Wednesday): the night session trades (LS_OPENAPI.md §3.6).
    night = MIDDAY.replace(hour=22)
    async with Simulator(sim_settings(start=night)) as sim:
        token = await token_for(sim)
        rec = Recorder()
        session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
        pairs = [
            (tr_cd, format_tr_key(tr_cd, sample_symbol(sim, market)))
            for tr_cd in ("DH0", "DC0")
            for market in ("kfutures", "koptions")
        ] + [("FH9", format_tr_key("FH9", sample_symbol(sim, "kfutures")))]
        acks = await session.subscribe_many(token, pairs)
        assert all(a.accepted for a in acks)
        await rec.until(lambda: all(rec.data.get(p) for p in pairs[:4]))
        for tr_cd, tr_key in pairs[:4]:
            assert set(rec.data[(tr_cd, tr_key)][0]) == set(CATALOG[tr_cd].names)
        assert not rec.data.get(pairs[4])  # the day session's TR is silent at night
        await session.close()


async def test_unsubscribe_stops_that_key_only(sim: Simulator) -> None:
    token = await token_for(sim)
    rec = Recorder()
    session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
    a, b = sim.universe.instruments["kospi"][0].symbol, sim.universe.instruments["kospi"][1].symbol
    await session.subscribe(token, "S3_", a, check=True)
    await session.subscribe(token, "H1_", b, check=True)
    await rec.until(lambda: bool(rec.data.get(("S3_", a))))
    ack = await session.unsubscribe(token, "S3_", a)
    assert ack.accepted and ack.tr_type == "4"
    seen_at_ack = len(rec.data[("S3_", a)])
    after = len(rec.data[("H1_", b)])
    await rec.until(lambda: len(rec.data[("H1_", b)]) >= after + 20)
    # Frames on one connection are ordered: nothing for the unsubscribed key after its ack.
    assert len(rec.data[("S3_", a)]) == seen_at_ack
    await session.close()


async def test_refusal_is_reported_never_assumed(sim: Simulator) -> None:
    token = await token_for(sim)
    session = await Session.connect(sim.ws_url, "t-1", Recorder(), clock=sim.clock)
    sim.inject("refuse")
    symbol = sim.universe.instruments["kosdaq"][0].symbol
    with pytest.raises(SubscriptionRefused) as info:
        await session.subscribe(token, "K3_", symbol, check=True)
    assert info.value.rsp_cd != "00000" and symbol in str(info.value)
    ack = await session.subscribe(token, "K3_", symbol)  # the fault fired once
    assert ack.accepted
    await session.close()


async def test_unknown_tr_and_bad_token_are_refused(sim: Simulator) -> None:
    token = await token_for(sim)
    session = await Session.connect(sim.ws_url, "t-1", Recorder(), clock=sim.clock)
    ack = await session.subscribe(token, "ZZ9", "005930")
    assert (ack.rsp_cd, ack.rsp_msg) == UNKNOWN_TR
    ack = await session.subscribe("not-a-token", "S3_", "005930")
    assert (ack.rsp_cd, ack.rsp_msg) == BAD_TOKEN
    await session.close()


async def test_expired_token_refuses_new_registrations_but_streams_continue(sim: Simulator) -> None:
    token = await token_for(sim)
    rec = Recorder()
    session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
    symbol = sim.universe.instruments["kospi"][0].symbol
    await session.subscribe(token, "H1_", symbol, check=True)
    await rec.until(lambda: bool(rec.data.get(("H1_", symbol))))
    assert sim.inject("expire-token") >= 1
    ack = await session.subscribe(token, "S3_", symbol)
    assert (ack.rsp_cd, ack.rsp_msg) == BAD_TOKEN
    n = len(rec.data[("H1_", symbol)])
    await rec.until(lambda: len(rec.data[("H1_", symbol)]) > n + 5)
    fresh = await token_for(sim)
    assert (await session.subscribe(fresh, "S3_", symbol)).accepted
    await session.close()


async def test_registrations_per_connection_limit_is_enforced() -> None:
    async with Simulator(sim_settings(limits=VenueLimits(registrations_per_connection=5))) as sim:
        token = await token_for(sim)
        session = await Session.connect(sim.ws_url, "t-1", Recorder(), clock=sim.clock)
        symbols = [i.symbol for i in sim.universe.instruments["kospi"][:6]]
        acks = await session.subscribe_many(token, [("H1_", s) for s in symbols])
        assert [a.accepted for a in acks] == [True] * 5 + [False]
        assert (acks[-1].rsp_cd, acks[-1].rsp_msg) == TOO_MANY_REGISTRATIONS
        await session.close()


async def test_connections_per_app_key_limit_is_enforced() -> None:
    async with Simulator(sim_settings(limits=VenueLimits(connections_per_key=2))) as sim:
        token = await token_for(sim)
        other = await token_for(sim, "app-key-b")
        sessions = [
            await Session.connect(sim.ws_url, f"t-{i}", Recorder(), clock=sim.clock) for i in range(3)
        ]
        symbol = sim.universe.instruments["kospi"][0].symbol
        acks = [await s.subscribe(token, "H1_", symbol) for s in sessions]
        assert [a.accepted for a in acks] == [True, True, False]
        assert (acks[2].rsp_cd, acks[2].rsp_msg) == TOO_MANY_CONNECTIONS
        # The limit is per app key: another key may use the third connection.
        assert (await sessions[2].subscribe(other, "H1_", symbol)).accepted
        for s in sessions:
            await s.close()


async def test_registration_rate_limit_is_enforced_and_pacing_respects_it() -> None:
    async with Simulator(sim_settings(limits=VenueLimits(registrations_per_s=10))) as sim:
        token = await token_for(sim)
        session = await Session.connect(sim.ws_url, "t-1", Recorder(), clock=sim.clock)
        symbols = [i.symbol for i in sim.universe.instruments["kospi"][:24]]
        burst = await session.subscribe_many(token, [("H1_", s) for s in symbols[:12]], per_s=0, window=100)
        refused = [a for a in burst if not a.accepted]
        assert refused and all((a.rsp_cd, a.rsp_msg) == TOO_FAST for a in refused)
        # A client that paces itself under the limit from the start is never refused.
        other = await token_for(sim, "app-key-b")
        paced_session = await Session.connect(sim.ws_url, "t-2", Recorder(), clock=sim.clock)
        paced = await paced_session.subscribe_many(other, [("S3_", s) for s in symbols[12:]], per_s=8)
        assert all(a.accepted for a in paced), [a for a in paced if not a.accepted]
        await session.close()
        await paced_session.close()


async def test_dropped_connection_ends_the_session_and_fails_pending_acks(sim: Simulator) -> None:
    token = await token_for(sim)
    session = await Session.connect(sim.ws_url, "t-1", Recorder(), clock=sim.clock)
    await session.subscribe(token, "H1_", sim.universe.instruments["kospi"][0].symbol, check=True)
    assert sim.inject("drop") == 1
    reason = await asyncio.wait_for(session.wait_closed(), WAIT_S)
    assert reason
    assert not session.connected
    with pytest.raises(SessionLost):
        await session.subscribe(token, "S3_", "005930")


async def test_stalled_connection_stays_open_and_silent(sim: Simulator) -> None:
    token = await token_for(sim)
    rec_a, rec_b = Recorder(), Recorder()
    a = await Session.connect(sim.ws_url, "t-a", rec_a, clock=sim.clock)
    b = await Session.connect(sim.ws_url, "t-b", rec_b, clock=sim.clock)
    symbol = sim.universe.instruments["kospi"][0].symbol
    await a.subscribe(token, "H1_", symbol, check=True)
    await b.subscribe(token, "H1_", symbol, check=True)
    await rec_a.until(lambda: bool(rec_a.data.get(("H1_", symbol))))
    stalled_id = next(c.conn_id for c in sim.hub.connections.values() if c.registrations and c.frames_sent)
    assert sim.inject("stall", conn_id=stalled_id) == 1
    stalled = sim.hub.connections[stalled_id]
    sent_then = stalled.frames_sent
    n_b = len(rec_b.data[("H1_", symbol)])
    await rec_b.until(lambda: len(rec_b.data[("H1_", symbol)]) > n_b + 30)
    assert stalled.frames_sent == sent_then
    assert a.connected and b.connected
    await a.close()
    await b.close()


async def test_malformed_frames_reach_the_client_and_the_session_survives(sim: Simulator) -> None:
    token = await token_for(sim)
    rec = Recorder()
    session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
    symbol = sim.universe.instruments["kospi"][0].symbol
    await session.subscribe(token, "H1_", symbol, check=True)
    sim.inject("malformed", count=8)

    def bad() -> list[bytes]:
        return [p for p, _ in rec.raw if not _is_complete_frame(p, CATALOG["H1_"].names)]

    await rec.until(lambda: len(bad()) >= 8)
    n = len(rec.data[("H1_", symbol)])
    await rec.until(lambda: len(rec.data[("H1_", symbol)]) > n + 10)
    assert len(bad()) == 8
    assert session.connected
    await session.close()


def _is_complete_frame(payload: bytes, names: tuple[str, ...]) -> bool:
    try:
        frame = json.loads(payload)
        body = frame["body"]
        if "rsp_cd" in frame["header"]:
            return True
        return (
            isinstance(body, dict)
            and set(body) == set(names)
            and all(
                v.strip().lstrip("+-").replace(".", "", 1).isdigit()
                or not v.strip()
                or not v.strip()[0].isdigit()
                for v in body.values()
            )
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


async def test_legacy_futures_codes_answer_when_the_new_ones_are_rejected() -> None:
    stream = StreamSettings(rate_fps=2000.0, reject_trs=frozenset({"FH9", "FC9"}))
    async with Simulator(sim_settings(stream=stream)) as sim:
        token = await token_for(sim)
        rec = Recorder()
        session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
        code = sample_symbol(sim, "kfutures")
        assert (await session.subscribe(token, "FC9", code)).rsp_cd == UNKNOWN_TR[0]
        assert (await session.subscribe(token, "FH0", code)).accepted
        await rec.until(lambda: bool(rec.data.get(("FH0", code))))
        await session.close()


async def test_every_frame_is_handed_over_raw_with_a_receive_time(sim: Simulator) -> None:
    token = await token_for(sim)
    rec = Recorder()
    session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
    symbol = sim.universe.instruments["kospi"][0].symbol
    await session.subscribe(token, "S3_", symbol, check=True)
    await rec.until(lambda: len(rec.raw) > 50)
    times = [t for _, t in rec.raw]
    assert times == sorted(times)
    assert session.frames_total >= len(rec.raw) - 1
    assert any(b'"rsp_cd"' in p for p, _ in rec.raw), "the ack itself is handed over too"
    await session.close()


@pytest.mark.parametrize("tr_cd", ["YS3", "YK3"])
async def test_expected_prices_stream_during_the_opening_auction(tr_cd: str) -> None:
    preopen = MIDDAY.replace(hour=8, minute=40)
    async with Simulator(sim_settings(start=preopen)) as sim:
        market = CATALOG[tr_cd].markets[0]
        symbol = sample_symbol(sim, market)
        token = await token_for(sim)
        rec = Recorder()
        session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
        await session.subscribe(token, tr_cd, format_tr_key(tr_cd, symbol), check=True)
        await rec.until(lambda: bool(rec.data.get((tr_cd, symbol))))
        assert set(rec.data[(tr_cd, symbol)][0]) == set(CATALOG[tr_cd].names)
        await session.close()
