"""Session-aware liveness: a connection silent while its market trades is reconnected; a
silent connection whose market is closed is left alone (no reconnect storms at night)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from pathlib import Path

import msgspec

from gatherer.capture import Journal, Kind, iter_records
from gatherer.clock import SEOUL, ScaledClock, seoul_ns, to_seoul
from gatherer.config import MarketConfig
from gatherer.plan.select import Registration
from gatherer.run.prepare import rest_client
from gatherer.run.worker import Worker, WorkerSettings
from gatherer.sim.server import Simulator
from gatherer.sim.state import VenueLimits
from gatherer.sim.ws_api import StreamSettings
from gatherer.venues.ls.hours import exchange_group, session_windows
from gatherer.venues.ls.sessions import MarketStatus, read_jif

from ..conftest import sim_settings
from ..helpers.collect import RunResult, collect
from ..helpers.sim import CREDENTIALS, sim_config
from ..helpers.waiting import wait_until

WED = dt.date(2026, 11, 25)


def test_sessions_follow_the_krx_calendar_and_overseas_hours() -> None:
    cal = MarketStatus(session_windows(WED, dt.date(2026, 12, 25)))
    assert cal.is_open("kospi", seoul_ns(WED, dt.time(10, 0)))
    assert not cal.is_open("kospi", seoul_ns(WED, dt.time(8, 50)))  # the opening auction does not count
    assert not cal.is_open("kospi", seoul_ns(WED, dt.time(20, 0)))
    assert cal.is_open("kfutures", seoul_ns(WED, dt.time(8, 50)))
    assert cal.is_open("CME", seoul_ns(WED, dt.time(20, 0)))
    assert not cal.is_open("CME", seoul_ns(WED, dt.time(7, 30)))  # the daily break, in November
    assert cal.is_open("CME", seoul_ns(WED, dt.time(6, 30)))
    assert not cal.is_open("CME", seoul_ns(dt.date(2026, 11, 29), dt.time(12, 0)))  # Sunday
    assert not cal.is_open("kospi", seoul_ns(dt.date(2026, 12, 25), dt.time(10, 0)))  # Christmas


async def run_with_stall(tmp_path: Path, start: dt.datetime, until: str) -> RunResult:
    clock = ScaledClock(int(start.timestamp() * 1e9), speed=1.0)
    settings = sim_settings(
        start=None, stream=StreamSettings(rate_fps=2000.0), limits=VenueLimits(rest_rate_scale=20)
    )
    async with Simulator(settings, clock=clock) as sim:
        cfg = sim_config(
            sim, tmp_path, {"kospi": MarketConfig(max_symbols=5, channels=["book"])}, connections_per_key=1
        )
        cfg = msgspec.structs.replace(cfg, venue=msgspec.structs.replace(cfg.venue, stall_timeout_s=1.0))
        stop = asyncio.Event()
        started: list[RunResult] = []
        task = asyncio.create_task(collect(cfg, CREDENTIALS, stop, on_start=started.append, clock=clock))
        await wait_until(lambda: bool(started) and started[0].connections[0].accepted == 5)
        (conn,) = started[0].connections
        assert sim.inject("stall") == 1
        if until == "reconnected":
            await wait_until(lambda: conn.stalls == 1 and conn.reconnects == 1 and conn.accepted == 5, 30)
        else:
            checks = conn.liveness_checks
            await wait_until(lambda: conn.liveness_checks >= checks + 12, 30)  # three stall periods
        stop.set()
        return await task


async def test_a_connection_silent_while_its_market_trades_is_reconnected(tmp_path: Path) -> None:
    result = await run_with_stall(tmp_path, dt.datetime(2026, 11, 25, 10, 0, tzinfo=SEOUL), "reconnected")
    (conn,) = result.connections
    assert conn.stalls == 1 and conn.reconnects == 1
    events = [r.payload for r in iter_records(tmp_path / "journal") if r.kind == Kind.EVENT]
    assert any(b'"event":"stalled"' in e for e in events)
    assert any(b'"reason":"stalled: no data' in e for e in events)


async def test_a_silent_connection_of_a_closed_market_is_left_alone(tmp_path: Path) -> None:
    # 20:00 Seoul: KRX stocks are closed; the simulator sends nothing and nobody reconnects.
    result = await run_with_stall(tmp_path, dt.datetime(2026, 11, 25, 20, 0, tzinfo=SEOUL), "checked")
    (conn,) = result.connections
    assert conn.stalls == 0 and conn.reconnects == 0


# -- staggered reconnects --------------------------------------------------------------------------


async def test_connections_of_one_key_dropped_at_once_come_back_one_at_a_time(tmp_path: Path) -> None:
    stagger_ns = int(WorkerSettings().reconnect_stagger_s * 1e9)
    async with Simulator(sim_settings(limits=VenueLimits(rest_rate_scale=20))) as sim:
        markets = {"kospi": MarketConfig(max_symbols=25, channels=["book", "trade"])}
        cfg = sim_config(sim, tmp_path, markets, connections_per_key=5)
        venue = msgspec.structs.replace(cfg.venue, registrations_per_connection=10)
        cfg = msgspec.structs.replace(cfg, venue=venue)
        stop = asyncio.Event()
        started: list[RunResult] = []
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        task = asyncio.create_task(collect(cfg, CREDENTIALS, stop, on_start=started.append, clock=sim.clock))
        await wait_until(lambda: bool(started) and all(c.accepted == 10 for c in started[0].connections))
        conns = started[0].connections
        assert len(conns) == 5  # one app key (the in-process collector uses one)
        up_s = loop.time() - t0
        assert sim.inject("drop") == 5  # the venue restarts: every connection of the key drops at once
        await wait_until(lambda: all(c.reconnects == 1 and c.accepted == 10 for c in conns), 30)
        stop.set()
        await task
    connected: dict[str, list[int]] = {}
    for r in iter_records(tmp_path / "journal"):
        if r.kind == Kind.EVENT and b'"event":"connected"' in r.payload:
            connected.setdefault(r.conn_id, []).append(r.recv_ns)
    assert sorted(len(t) for t in connected.values()) == [2] * 5
    for attempt in (0, 1):  # the first connects and the reconnects after the drop
        times = sorted(t[attempt] for t in connected.values())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= stagger_ns, (attempt, gaps)
    reconnects = sorted(t[1] for t in connected.values())
    print(
        f"\nstagger {stagger_ns / 1e9:.1f} s: 5 connections up and registered in {up_s:.2f} s; "
        f"after the drop back within {(reconnects[-1] - reconnects[0]) / 1e9:.2f} s, gaps "
        f"{', '.join(f'{(b - a) / 1e9:.3f}' for a, b in itertools.pairwise(reconnects))} s"
    )


async def test_connections_waiting_for_their_turn_do_not_connect_after_stop(tmp_path: Path) -> None:
    async with (
        Simulator(sim_settings(limits=VenueLimits(rest_rate_scale=20))) as sim,
        rest_client(sim_config(sim, tmp_path, {}), CREDENTIALS, sim.clock) as client,
    ):

        async def token(_key: int) -> str:
            return (await client.token()).access_token

        journal = await Journal.open(tmp_path, "w00", clock=sim.clock)
        worker = Worker(
            ws_url=sim.ws_url,
            token=token,
            journal=journal,
            groups=[
                [Registration("kospi", "book", "H1_", i.symbol)]
                for i in sim.universe.instruments["kospi"][:4]
            ],
            clock=sim.clock,
            settings=WorkerSettings(reconnect_stagger_s=5.0, registrations_per_s=80),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await wait_until(lambda: worker.stats[0].accepted == 1)
        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        stop.set()  # three connections still wait for their turn of the key
        await asyncio.wait_for(task, 10)
        assert loop.time() - stopped_at < 1.0, "stopping does not wait out the stagger"
        await journal.close()
    assert [s.connects for s in worker.stats] == [1, 0, 0, 0]


# -- JIF: the venue's own word on when a market trades ---------------------------------------------


class SteppedClock:
    """Real time from a start, moved forward by the test: a day's phases in seconds, in order."""

    def __init__(self, start: dt.datetime) -> None:
        self._base = ScaledClock(int(start.timestamp() * 1e9), speed=1.0)
        self._jumped_ns = 0

    def time_ns(self) -> int:
        return self._base.time_ns() + self._jumped_ns

    def monotonic(self) -> float:
        return self._base.monotonic()

    def jump_to(self, day: dt.date, at: dt.time) -> None:
        target = seoul_ns(day, at)
        assert target > self.time_ns()
        self._jumped_ns += target - self.time_ns()


CHRISTMAS = dt.date(2026, 12, 25)  # a KRX holiday in the calendar; the simulator trades all the same


async def stalled_while_jif_says(
    tmp_path: Path,
    day: dt.date,
    collector_start: dt.datetime | None = None,
    collector_then: dt.datetime | None = None,
) -> None:
    """A kospi connection stalls while JIF says the opening auction runs, and stays stalled into
    the open. The collector's clock (so its calendar) may differ from the venue's day: it starts at
    ``collector_start`` and, once the auction runs, jumps to ``collector_then`` (an exchange that
    opens an hour late; a day the calendar wrongly thinks a holiday)."""
    start = dt.datetime.combine(day, dt.time(7, 50), SEOUL)  # before anything opens
    venue = SteppedClock(start)
    collector = SteppedClock(collector_start) if collector_start is not None else venue
    settings = sim_settings(start=None, limits=VenueLimits(rest_rate_scale=20))
    collector_day = to_seoul(collector.time_ns()).date()
    async with (
        Simulator(settings, clock=venue) as sim,
        rest_client(sim_config(sim, tmp_path, {}), CREDENTIALS, collector) as client,
    ):

        async def token(_key: int) -> str:
            return (await client.token()).access_token

        symbols = [i.symbol for i in sim.universe.instruments["kospi"][:5]]
        journal = await Journal.open(tmp_path, "w00", clock=collector)
        worker = Worker(
            ws_url=sim.ws_url,
            token=token,
            journal=journal,
            groups=[
                [Registration("kospi", "book", "H1_", s) for s in symbols],
                [Registration("all", "status", "JIF", "0")],  # the market-status feed, on its own
            ],
            clock=collector,
            sessions=await asyncio.to_thread(
                session_windows, collector_day - dt.timedelta(days=1), collector_day
            ),
            settings=WorkerSettings(stall_s=1.0, registrations_per_s=80),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        book, status = worker.stats
        await wait_until(lambda: book.accepted == 5 and status.accepted == 1)
        venue.jump_to(day, dt.time(8, 29, 59, 500_000))  # the venue's opening auction begins: JIF 11
        await wait_until(lambda: worker.market_status.said("kospi", collector.time_ns()) == "quiet")
        (sim_book,) = [c for c in sim.hub.connections.values() if ("H1_", symbols[0]) in c.registrations]
        assert sim.inject("stall", conn_id=sim_book.conn_id) == 1
        if collector_then is not None:
            collector.jump_to(collector_then.date(), collector_then.timetz().replace(tzinfo=None))
        assert worker.market_status.said("kospi", collector.time_ns()) == "quiet"
        checks = book.liveness_checks
        await wait_until(lambda: book.liveness_checks >= checks + 12, 30)  # three stall periods, silent
        assert book.stalls == 0 and book.reconnects == 0, "JIF says auction: the silence is normal"
        venue.jump_to(day, dt.time(8, 59, 59, 500_000))  # the venue opens: JIF 21
        await wait_until(lambda: book.stalls == 1 and book.reconnects == 1 and book.accepted == 5, 30)
        assert worker.market_status.said("kospi", collector.time_ns()) == "trading"
        stop.set()
        await task
        await journal.close()
    records = list(iter_records(tmp_path / "journal"))
    jif = [(r.recv_ns, read_jif(r.payload)) for r in records if r.kind == Kind.FRAME and read_jif(r.payload)]
    opened = min(ns for ns, codes in jif if codes == ("1", "21"))
    assert any(codes == ("1", "11") and ns < opened for ns, codes in jif)
    stalls = [r.recv_ns for r in records if r.kind == Kind.EVENT and b'"event":"stalled"' in r.payload]
    assert len(stalls) == 1 and stalls[0] > opened


async def test_jif_auction_keeps_a_silent_connection_although_the_calendar_says_open(tmp_path: Path) -> None:
    # The exchange opens an hour late (the 수능 day, the year's first session): at 09:30 by the
    # calendar the venue's clock reads 08:30, its opening auction.
    await stalled_while_jif_says(
        tmp_path,
        WED,
        collector_start=dt.datetime.combine(WED, dt.time(8, 50), SEOUL),
        collector_then=dt.datetime.combine(WED, dt.time(9, 30), SEOUL),
    )


async def test_jif_open_watches_a_market_the_calendar_thinks_closed(tmp_path: Path) -> None:
    # The venue trades on Christmas Eve; the collector's calendar is on Christmas, a KRX holiday.
    christmas_eve = CHRISTMAS - dt.timedelta(days=1)
    await stalled_while_jif_says(
        tmp_path, christmas_eve, collector_start=dt.datetime.combine(CHRISTMAS, dt.time(7, 50), SEOUL)
    )


# -- overseas hours in every season ----------------------------------------------------------------

WINTER = dt.date(2026, 12, 2)  # a Wednesday; Chicago on standard time: the CME break is 07:00-08:00 KST


async def test_no_stall_reconnect_in_the_winter_cme_break_and_one_after_it_reopens(tmp_path: Path) -> None:
    clock = SteppedClock(dt.datetime.combine(WINTER, dt.time(7, 10), SEOUL))  # venue and worker share it
    windows = await asyncio.to_thread(session_windows, WINTER - dt.timedelta(days=1), WINTER)
    settings = sim_settings(start=None, limits=VenueLimits(rest_rate_scale=20))
    async with (
        Simulator(settings, clock=clock) as sim,
        rest_client(sim_config(sim, tmp_path, {}), CREDENTIALS, clock) as client,
    ):

        async def token(_key: int) -> str:
            return (await client.token()).access_token

        futures = [i for i in sim.universe.instruments["ofutures"] if i.product == "ES"][:2]
        groups = {i.symbol: exchange_group(sim.universe.products[i.product].exch)[0] for i in futures}
        assert set(groups.values()) == {"CME"}
        journal = await Journal.open(tmp_path, "w00", clock=clock)
        worker = Worker(
            ws_url=sim.ws_url,
            token=token,
            journal=journal,
            groups=[[Registration("ofutures", ch, tr, i.symbol) for i in futures for ch, tr in CHANNELS]],
            clock=clock,
            sessions=windows,
            session_groups=groups,
            settings=WorkerSettings(stall_s=1.0, registrations_per_s=80),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        (conn,) = worker.stats
        await wait_until(lambda: conn.accepted == 4)
        assert not worker.market_status.is_open("CME", clock.time_ns())
        checks = conn.liveness_checks
        await wait_until(lambda: conn.liveness_checks >= checks + 12, 30)  # three stall periods
        assert conn.stalls == 0 and conn.reconnects == 0, "the CME break: silence is normal"
        (sim_conn,) = sim.hub.connections.values()
        assert sim.inject("stall", conn_id=sim_conn.conn_id) == 1  # it stays silent after the reopen
        clock.jump_to(WINTER, dt.time(8, 0, 0, 200_000))
        await wait_until(lambda: conn.stalls == 1 and conn.reconnects == 1 and conn.accepted == 4, 30)
        await wait_until(lambda: conn.frames > 8)  # the new connection streams: CME trades again
        stop.set()
        await task
        await journal.close()
    records = list(iter_records(tmp_path / "journal"))
    reopen_ns = seoul_ns(WINTER, dt.time(8, 0))
    data = [
        r.recv_ns
        for r in records
        if r.kind == Kind.FRAME and b'"OV' in r.payload and b"rsp_cd" not in r.payload
    ]
    assert data and min(data) >= reopen_ns, "the simulator is silent in the break too"
    stalls = [r.recv_ns for r in records if r.kind == Kind.EVENT and b'"event":"stalled"' in r.payload]
    assert len(stalls) == 1 and stalls[0] > reopen_ns


CHANNELS = (("book", "OVH"), ("trade", "OVC"))
