"""The simulated LS venue as one server: REST and WebSocket on one loopback port.

``Simulator`` wires the universe, the market model, the token registry, the limits
and the faults into an aiohttp application and serves it. Tests use it in-process
(``async with Simulator(SimSettings()) as sim``); ``gatherer sim`` runs it from the
command line. It also serves a small control API under ``/_sim/`` so that faults
can be injected from another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any

from aiohttp import web

from gatherer.clock import SEOUL, Clock, ScaledClock, to_seoul
from gatherer.sim.market import MarketModel
from gatherer.sim.rest_api import RestContext, add_rest_routes
from gatherer.sim.state import FAULTS, Credentials, Faults, SkipRule, TokenRegistry, VenueLimits
from gatherer.sim.universe.build import build_universe
from gatherer.sim.universe.instruments import Universe
from gatherer.sim.ws_api import SentHook, StreamSettings, WsHub
from gatherer.venues.ls.catalog import CATALOG
from gatherer.venues.ls.hours import SessionWindows, session_windows
from gatherer.venues.ls.keys import symbol_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimSettings:
    """How to start the simulated venue."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    seed: int = 0
    credentials: Credentials | None = None
    """Accept only these; None accepts any non-empty app key and secret."""
    limits: VenueLimits = field(default_factory=VenueLimits)
    stream: StreamSettings = field(default_factory=StreamSettings)
    start: dt.datetime | None = None
    """Simulated wall time at start (timezone-aware); None = now."""
    speed: float = 1.0
    """Simulated seconds per real second."""
    token_ttl_s: float | None = None
    """Token lifetime; None = LS's rule, 07:00 KST of the next day."""


class Simulator:
    """A faithful stand-in for the LS Open API on loopback.

    ``clock``: the venue's time. Without one it is a ScaledClock from ``settings.start`` (or now) at
    ``settings.speed``, whose ``clock_spec`` other processes rebuild to share it. The universe is
    what is listed on that clock's Seoul date at start (a simulator running across days keeps it;
    a restarted one lists the new day's).
    """

    def __init__(
        self, settings: SimSettings, *, clock: Clock | None = None, on_sent: SentHook | None = None
    ) -> None:
        self.settings = settings
        self._clock_arg = clock
        self._on_sent = on_sent
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._sessions_task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> None:
        s = self.settings
        if self._clock_arg is not None:
            self.clock: Clock = self._clock_arg
        else:
            # Always a clock other processes can share (``ScaledClock.spec``), real time or not.
            start_ns = int(s.start.timestamp() * 1e9) if s.start is not None else time.time_ns()
            self.clock = ScaledClock(start_ns, s.speed)
        as_of = to_seoul(self.clock.time_ns()).date()  # the masters list what trades that day
        self.universe: Universe = await asyncio.to_thread(partial(build_universe, s.seed, as_of=as_of))
        self.faults = Faults()
        self.tokens = TokenRegistry(self.clock, s.credentials, s.token_ttl_s)
        self.model = MarketModel(
            (inst for insts in self.universe.instruments.values() for inst in insts),
            random.Random(s.seed),
            sessions=await asyncio.to_thread(_session_windows, self.clock.time_ns()),
            exchanges={code: prod.exch for code, prod in self.universe.products.items()},
        )
        self.hub = WsHub(
            tokens=self.tokens,
            limits=s.limits,
            faults=self.faults,
            model=self.model,
            clock=self.clock,
            rng=random.Random(s.seed + 1),
            stream=s.stream,
            on_sent=self._on_sent,
        )
        app = web.Application()
        self.rest = RestContext(
            tokens=self.tokens,
            limits=s.limits,
            faults=self.faults,
            universe=self.universe,
            clock=self.clock,
            model=self.model,
        )
        add_rest_routes(app, self.rest)
        app.router.add_get("/websocket", self.hub.handle)
        app.router.add_post("/_sim/fault", self._fault_endpoint)
        app.router.add_get("/_sim/status", self._status_endpoint)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.host, s.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._task = asyncio.create_task(self.hub.run(), name="sim-stream")
        self._task.add_done_callback(_report_end)
        self._sessions_task = asyncio.create_task(self._renew_sessions(), name="sim-sessions")
        self._sessions_task.add_done_callback(_report_end)
        log.info("simulator listening", extra={"rest_url": self.rest_url, "ws_url": self.ws_url})

    @property
    def clock_spec(self) -> str | None:
        """The spec other processes rebuild this simulator's clock from (``ScaledClock.from_spec``);
        None only when a test passed a clock that cannot be shared (a ManualClock)."""
        return self.clock.spec if isinstance(self.clock, ScaledClock) else None

    @property
    def rest_url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.settings.host}:{self.port}/websocket"

    async def _renew_sessions(self) -> None:
        """Keep the model's session windows ahead of the simulated clock, computed in a thread (the
        calendars take seconds to build the first time) so the stream never waits for them."""
        while True:
            await asyncio.sleep(1.0)
            now_ns = self.clock.time_ns()
            current = self.model.sessions
            if current is None or not current.covers(now_ns + _RENEW_AHEAD_NS):
                self.model.set_sessions(await asyncio.to_thread(_session_windows, now_ns))

    async def stop(self) -> None:
        if self._sessions_task is not None:
            self._sessions_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sessions_task
            self._sessions_task = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._runner is not None:
            for conn in list(self.hub.connections.values()):
                await conn.ws.close()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- faults ---------------------------------------------------------------------

    def inject(
        self,
        fault: str,
        *,
        conn_id: str | None = None,
        count: int = 1,
        tr_cd: str | None = None,
        tr_key: str | None = None,
    ) -> int:
        """Arm or apply a fault; returns how many connections/units it affected.

        ``skip`` keeps the next ``count`` trade frames from being sent: of ``tr_cd`` only (a trade
        TR such as ``S3_``) if given, and of ``tr_key`` only if given (that TR's key, padding
        optional, e.g. ``005930`` or ``N005930``; without ``tr_cd``, a bare symbol). The prints
        still happen and are served by the backfill TRs; ``hub.skipped`` lists what was skipped.
        """
        if fault == "drop":
            return self.hub.drop(conn_id)
        if fault == "stall":
            return self.hub.stall(conn_id)
        if fault == "unstall":
            return self.hub.stall(conn_id, stalled=False)
        if fault == "malformed":
            self.faults.malformed_frames += count
            return count
        if fault == "refuse":
            self.faults.refuse_registrations += count
            return count
        if fault == "expire-token":
            return self.tokens.expire_all()
        if fault == "rest-rate-limit":
            self.faults.rest_rate_limited += count
            return count
        if fault == "skip":
            if count < 1:
                raise ValueError(f"skip: count must be at least 1, got {count}")
            self.faults.skip.append(SkipRule(count, tr_cd, _skip_symbol(tr_cd, tr_key)))
            return count
        raise ValueError(f"unknown fault {fault!r}; expected one of {', '.join(FAULTS)}")

    async def _fault_endpoint(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        try:
            n = self.inject(
                str(body.get("fault")),
                conn_id=body.get("conn_id"),
                count=int(body.get("count", 1)),
                tr_cd=body.get("tr_cd") or None,
                tr_key=body.get("tr_key") or None,
            )
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"fault": body.get("fault"), "affected": n})

    async def _status_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(self.status())

    def status(self) -> dict[str, Any]:
        return {
            "connections": len(self.hub.connections),
            "registrations": self.hub.registrations_total(),
            "frames_sent_total": self.hub.frames_sent_total,
            "acks_total": self.hub.acks_total,
            "refusals_total": self.hub.refusals_total,
            "frames_skipped_total": len(self.hub.skipped),
            "sim_time": dt.datetime.fromtimestamp(self.clock.time_ns() / 1e9, tz=SEOUL).isoformat(),
        }


def _skip_symbol(tr_cd: str | None, tr_key: str | None) -> str | None:
    """The symbol a ``skip`` fault is for; ValueError for a TR that carries no trades or a bad key."""
    if tr_cd is not None:
        spec = CATALOG.get(tr_cd)
        if spec is None or spec.channel != "trade":
            trades = ", ".join(sorted(t for t, s in CATALOG.items() if s.channel == "trade"))
            raise ValueError(f"skip: {tr_cd!r} is not a trade TR; expected one of {trades}")
    if tr_key is None:
        return None
    if tr_cd is None:
        return tr_key.strip()
    style = CATALOG[tr_cd].key_style
    if style in ("nxt10", "unified10"):
        tr_key = tr_key.ljust(10)
    elif style in ("overseas8", "overseas16"):
        tr_key = tr_key.ljust(8 if style == "overseas8" else 16)
    return symbol_of(tr_cd, tr_key)


_SESSION_DAYS = 14
_RENEW_AHEAD_NS = 3 * 86_400 * 1_000_000_000
"""Session windows span 14 Seoul dates from the day before; renewed when fewer than 3 days are left."""


def _session_windows(now_ns: int) -> SessionWindows:
    first = to_seoul(now_ns).date() - dt.timedelta(days=1)
    return session_windows(first, first + dt.timedelta(days=_SESSION_DAYS - 1))


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("simulator stream stopped", exc_info=task.exception())
