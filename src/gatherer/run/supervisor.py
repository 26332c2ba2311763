"""``gatherer run``: the supervisor. Plans the day and keeps its workers running.

It reads the config, fetches the day's masters (stored under ``masters/``), selects the
universe, and packs the registrations into connections, app keys and worker processes
within the venue limits of the config (``gatherer.plan``); a selection that does not fit is
refused with what to change. It then holds one token per app key (all connections of a key
share it, LS_OPENAPI.md §1.2) and starts one ``gatherer _worker`` process per planned worker,
handing each its part of the plan and the tokens over a pipe.

While the run lasts it
- restarts a worker that dies, with capped backoff; the new process appends to the same
  journal (its records continue the worker's sequence) and registers everything again;
- pushes refreshed tokens to the workers that use a key, before the old one expires;
- at the trading-day cutoff fetches the masters again and, when the selection changed (new
  listings, expiries), stops the workers the orderly way and starts them on the new plan;
- every ``backfill.interval_s`` backfills the day's new cumulative-volume gaps over REST
  (``gatherer.ledger.backfill``), and writes a finished day's ledger (``ledger/date=D/``) a
  little after its cutoff, once the stores have checkpointed.

Stopping (SIGINT/SIGTERM, ``--duration``) closes every worker's pipe: each stops, fsyncs
and reports; then a last backfill pass runs and the ledger of every day the run touched is
written. If the supervisor itself dies, even by SIGKILL, the pipes close the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pyarrow as pa

from gatherer.clock import Clock, SystemClock, next_cutoff_ns, to_seoul, trading_day_of
from gatherer.config import Config
from gatherer.errors import ConfigError, GathererError
from gatherer.ledger.backfill import PassStats
from gatherer.ops.picture import RunFacts
from gatherer.plan.broadcast import with_vi_everywhere
from gatherer.plan.explain import explain
from gatherer.plan.pack import Plan, pack, with_market_status
from gatherer.plan.select import Registration, select_with_notes
from gatherer.plan.shard import explain_shards
from gatherer.run.gaps import GapKeeper
from gatherer.run.liquidity import fetch_values_if_short, select_day
from gatherer.run.lock import RunLock
from gatherer.run.prepare import Progress, fetch_masters, plan_day, rest_client, retain, venue_limits
from gatherer.run.publishers import Publishers
from gatherer.run.sessions import load_windows, symbol_groups
from gatherer.run.status import StatusService, run_facts, watching
from gatherer.run.status_files import RecentErrors
from gatherer.run.worker_main import (
    TOKEN_REFUSED_PREFIX,
    Control,
    TokenRefused,
    TokenRefusedLine,
    WorkerReport,
    WorkerSpec,
    control_encoder,
)
from gatherer.run.workers import (
    WorkerHandle,
    child_environment,
    deaths_in_a_row,
    drain_leftovers,
    worker_specs,
)
from gatherer.venues.ls.auth import Credentials
from gatherer.venues.ls.hours import SessionWindows
from gatherer.venues.ls.ratelimit import backoff_s
from gatherer.venues.ls.rest import RestClient

log = logging.getLogger(__name__)

_report_decoder = msgspec.json.Decoder(WorkerReport)
_refused_decoder = msgspec.json.Decoder(TokenRefusedLine)


@dataclass
class SupervisorResult:
    root: Path
    registrations: list[Registration] = field(default_factory=list)
    masters: dict[str, int] = field(default_factory=dict)
    plan: Plan | None = None
    workers: list[WorkerHandle] = field(default_factory=list)
    restarts: int = 0
    replans: int = 0
    started_ns: int = 0
    ended_ns: int = 0
    backfill: list[PassStats] = field(default_factory=list)

    @property
    def reports(self) -> list[WorkerReport]:
        return [r for w in self.workers for r in w.reports]


class Supervisor:
    def __init__(
        self,
        cfg: Config,
        credentials: list[Credentials],
        *,
        clock: Clock | None = None,
        progress: Progress | None = None,
        workers: int = 1,
        restart_base_s: float = 1.0,
        restart_cap_s: float = 60.0,
        healthy_s: float = 120.0,
        token_check_s: float = 30.0,
        log_flags: Sequence[str] = (),
    ) -> None:
        if not credentials:
            raise ConfigError("no app key: export GATHERER_LS_APPKEY and GATHERER_LS_APPSECRET")
        self.cfg = cfg
        self.credentials = credentials
        self.clock = clock or SystemClock()
        self.say = progress or (lambda _m: None)
        self.workers = workers
        self.restart_base_s = restart_base_s
        self.restart_cap_s = restart_cap_s
        self.healthy_s = healthy_s
        """A worker that ran this long (real seconds) before it died starts its restart backoff afresh."""
        self.token_check_s = token_check_s
        self.log_flags = list(log_flags)
        """Logging flags (``-v``, ``--log-file``) handed on to the worker and store processes."""
        self.result = SupervisorResult(root=Path(cfg.storage.root))
        self._tokens: dict[int, str] = {}
        self._rng = random.Random()
        self._clients: list[RestClient] = []
        self._handles: list[WorkerHandle] = []
        self._windows: SessionWindows | None = None
        self._session_groups: dict[str, str] = {}
        self._publishers = Publishers(cfg.bus, Path(cfg.storage.root), self.log_flags)
        self._gaps = GapKeeper(cfg, self.result.root, self.clock, self.say, self.result.backfill)
        self._token_expiry_ns: dict[int, int] = {}
        self._stopping = False
        self._errors = RecentErrors()
        self.status = StatusService(cfg, self.result.root, self._facts)
        """The run's picture (``status.latest``) and, with ``[status] listen``, its page."""

    # -- planning ------------------------------------------------------------------------

    async def _masters(self, client: RestClient) -> dict[str, pa.Table]:
        tables = await fetch_masters(client, self.cfg, self.clock, self.say)
        self.result.masters.update({m: t.num_rows for m, t in tables.items()})
        keys = len(self.credentials)
        await fetch_values_if_short(
            client, self.cfg, self.clock, tables, app_keys=keys, workers=self.workers, say=self.say
        )
        return tables

    def _plan(self, tables: dict[str, pa.Table]) -> tuple[list[Registration], Plan]:
        self._session_groups = symbol_groups(tables)
        selection, plan = plan_day(
            self.cfg, tables, app_keys=len(self.credentials), workers=self.workers, say=self.say
        )
        return selection.registrations, with_market_status(with_vi_everywhere(plan))

    async def dry_run(self, *, app_keys: int | None = None, shards: int | None = None) -> tuple[str, bool]:
        """Fetch the masters and plan, without subscribing anything; the text `gatherer plan` prints."""
        async with rest_client(self.cfg, self.credentials[0], self.clock) as client:
            tables = await fetch_masters(client, self.cfg, self.clock, self.say, store=False)
            keys = app_keys or len(self.credentials)
            await fetch_values_if_short(
                client,
                self.cfg,
                self.clock,
                tables,
                app_keys=keys,
                workers=self.workers,
                say=self.say,
                store=False,
            )
        selection = select_day(self.cfg, tables, app_keys=keys, workers=self.workers)
        plan = pack(selection.registrations, app_keys=keys, limits=venue_limits(self.cfg, self.workers))
        text = explain(selection, with_market_status(with_vi_everywhere(plan)))
        if shards:  # the split of the whole selection, before this host's shard and any cut
            text += "\n\n" + explain_shards(select_with_notes(self.cfg, tables).registrations, shards)
        return text, plan.fits

    # -- workers -------------------------------------------------------------------------

    async def _start(self, handle: WorkerHandle) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gatherer", "_worker", *self.log_flags,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env=child_environment(), start_new_session=True,
        )  # fmt: skip
        assert proc.stdin is not None
        tokens = {k: self._tokens[k] for k in handle.keys}
        proc.stdin.write(control_encoder.encode(Control(spec=handle.spec, tokens=tokens)) + b"\n")
        await proc.stdin.drain()
        handle.proc = proc
        handle.starts += 1
        handle.started_at = asyncio.get_running_loop().time()
        handle.reader = asyncio.create_task(self._read(handle, proc), name=f"read-{handle.spec.worker_id}")

    async def _finish(self, handle: WorkerHandle) -> None:
        """Close the worker's pipe and collect its report."""
        proc = handle.proc
        if proc is None:
            return
        assert proc.stdin is not None
        with contextlib.suppress(ConnectionError):
            proc.stdin.close()
        if handle.reader is not None:
            await handle.reader
        await proc.wait()
        handle.proc = None

    async def _read(self, handle: WorkerHandle, proc: asyncio.subprocess.Process) -> None:
        """A worker's standard output while it runs: requests (a refused token), then its report.

        Read all along, so a worker never blocks on a full pipe."""
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            try:
                if line.startswith(TOKEN_REFUSED_PREFIX):
                    try:
                        await self._reissue(_refused_decoder.decode(line).token_refused)
                    except (GathererError, OSError) as exc:  # the worker asks again at its next refusal
                        log.error("could not issue app key's token again: %s", exc)
                else:
                    handle.reports.append(_report_decoder.decode(line))
            except msgspec.DecodeError:
                log.warning("worker %s wrote a line that is not a message; ignored", handle.spec.worker_id)

    async def _reissue(self, refused: TokenRefused) -> None:
        """A worker's connection was refused for its key's token: issue a new one (once for many
        reports) and hand it to every worker of the key."""
        client = self._clients[refused.key]
        await client.reissue(refused.fingerprint)
        log.warning("the venue refused app key %d's token; it was issued again", refused.key + 1)
        self._tokens.pop(refused.key, None)  # hand the current one over even to a late reporter
        await self._push_tokens(self._clients, self._handles)

    async def _push_tokens(self, clients: list[RestClient], handles: list[WorkerHandle]) -> None:
        for key, client in enumerate(clients):
            issued = await client.token()
            self._token_expiry_ns[key] = issued.expires_ns
            token = issued.access_token
            if token == self._tokens.get(key):
                continue
            self._tokens[key] = token
            line = control_encoder.encode(Control(tokens={key: token})) + b"\n"
            for h in handles:
                if key in h.keys and h.proc is not None and h.proc.stdin is not None:
                    with contextlib.suppress(ConnectionError):
                        h.proc.stdin.write(line)
            self.say(f"token of app key {key + 1} refreshed and handed to its workers")

    # -- the run -------------------------------------------------------------------------

    async def run(
        self, stop: asyncio.Event, *, duration_s: float | None = None, hurry: asyncio.Event | None = None
    ) -> SupervisorResult:
        """Record until ``stop`` is set (or ``duration_s`` passes), then stop the orderly way.

        Stopping closes every worker's pipe: each worker closes its connections, fsyncs its journal
        and lets its store write the last Parquet files; a worker that is gone by then (killed, or
        cut short as it started) has its journal drained into Parquet by a store started here. Then
        a last backfill pass (at most ``FINAL_BACKFILL_S``) and the ledger of every day the run
        touched. ``hurry`` (a second Ctrl-C) skips those two, which `gatherer backfill` and
        `gatherer ledger` can do later; nothing that keeps received data is ever skipped.
        """
        result = self.result
        cfg = self.cfg
        hurry = hurry or asyncio.Event()
        started = to_seoul(self.clock.time_ns()).isoformat(timespec="seconds")
        self.status.check()  # a status page off loopback without its token: refused before anything starts
        with RunLock(result.root, started):
            await retain(cfg, self.clock, self.say)
            async with contextlib.AsyncExitStack() as stack:
                await stack.enter_async_context(watching(self.status, self._errors))
                clients = self._clients = [
                    await stack.enter_async_context(rest_client(cfg, c, self.clock)) for c in self.credentials
                ]
                await self._record(stop, clients, duration_s)
                today = trading_day_of(self.clock.time_ns())
                if cfg.backfill.enabled:
                    await self._gaps.final_backfill(clients[0], today, hurry)
                result.ended_ns = self.clock.time_ns()
                day = trading_day_of(result.started_ns)
                while day <= today and not hurry.is_set():
                    await self._gaps.write_ledger(day)
                    day += dt.timedelta(days=1)
                if hurry.is_set():
                    self.say(
                        f"skipped: the final backfill and the ledger; `gatherer backfill --date {today}` and"
                        f" `gatherer ledger --date {today}` do them later"
                    )
        return result

    def _facts(self) -> RunFacts:
        """What the supervisor knows, for the status picture (``run.status.run_facts``)."""
        now_ns = self.clock.time_ns()
        facts = run_facts(self.result, self._handles, self._token_expiry_ns, self._errors, now_ns)
        return dataclasses.replace(facts, stopping=True) if self._stopping else facts

    async def _record(self, stop: asyncio.Event, clients: list[RestClient], duration_s: float | None) -> None:
        """Plan, start the workers, watch them until ``stop``; then stop them and drain every journal."""
        result = self.result
        result.started_ns = self.clock.time_ns()
        registrations, plan = self._plan(await self._masters(clients[0]))
        result.registrations, result.plan = registrations, plan
        for key, client in enumerate(clients):
            token = await client.token()
            self._tokens[key], self._token_expiry_ns[key] = token.access_token, token.expires_ns
        # Before the first connection, off the event loop: the calendars take seconds to build.
        self._windows = await load_windows(self.clock.time_ns())
        handles = self._handles = [WorkerHandle(spec, keys) for spec, keys in self._specs(plan)]
        result.workers.extend(handles)
        self.say(
            f"{plan.placed:,} registrations on {len(plan.connections)} connection(s),"
            f" {len(self.credentials)} app key(s), {len(handles)} worker process(es)"
        )
        for h in handles:
            await self._start(h)
        await self._publishers.ensure([h.spec.worker_id for h in handles])
        self.say("recording; stop with Ctrl-C" + (f" or wait {duration_s:g} s" if duration_s else ""))
        deadline = None if duration_s is None else asyncio.get_running_loop().time() + duration_s
        backfill = asyncio.create_task(self._gaps.loop(stop, clients[0]), name="backfill")
        try:
            await self._watch(stop, clients, handles, deadline)
        finally:
            self._stopping = True
            self.say("stopping: closing the connections and writing the last Parquet files")
            await asyncio.gather(*(self._finish(h) for h in result.workers))
            backfill.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await backfill
            await drain_leftovers(result.workers, self.log_flags)
            await self._publishers.finish()

    async def _watch(
        self,
        stop: asyncio.Event,
        clients: list[RestClient],
        handles: list[WorkerHandle],
        deadline: float | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        rollover_ns = next_cutoff_ns(self.clock.time_ns())
        failures: dict[str, int] = {}
        while not stop.is_set():
            waits: dict[asyncio.Future[object], WorkerHandle | None] = {
                asyncio.ensure_future(stop.wait()): None
            }
            for h in handles:
                if h.proc is not None:
                    waits[asyncio.ensure_future(h.proc.wait())] = h
            timeout = self.token_check_s
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - loop.time()))
            timeout = min(timeout, max(0.0, (rollover_ns - self.clock.time_ns()) / 1e9))
            done, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for f in pending:
                f.cancel()
            if deadline is not None and loop.time() >= deadline:
                stop.set()
            if stop.is_set():
                return
            for f in done:
                dead = waits[f]
                if dead is None or dead.proc is None:
                    continue
                await self._finish(dead)
                wid = dead.spec.worker_id
                failures[wid] = deaths_in_a_row(
                    failures.get(wid, 0), loop.time() - dead.started_at, self.healthy_s
                )
                self.result.restarts += 1
                delay = backoff_s(
                    failures[wid], base_s=self.restart_base_s, cap_s=self.restart_cap_s, rnd=self._rng
                )
                log.error("worker %s stopped unexpectedly; restarting it in %.1f s", wid, delay)
                self.say(f"worker {wid} died; restarting in {delay:.1f} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return
                await self._start(dead)
            await self._push_tokens(clients, handles)
            if self.clock.time_ns() >= rollover_ns:
                rollover_ns = next_cutoff_ns(self.clock.time_ns())
                handles[:] = await self._rollover(clients, handles)
                await self._publishers.ensure([h.spec.worker_id for h in handles])

    def _specs(self, plan: Plan) -> list[tuple[WorkerSpec, frozenset[int]]]:
        return worker_specs(
            self.cfg, plan, self.clock, sessions=self._windows, session_groups=self._session_groups
        )

    async def _refresh_sessions(self, handles: list[WorkerHandle]) -> None:
        """New session windows from now on, handed to running workers and kept for restarts."""
        self._windows = await load_windows(self.clock.time_ns())
        line = control_encoder.encode(Control(sessions=self._windows)) + b"\n"
        for h in handles:
            h.spec = msgspec.structs.replace(h.spec, sessions=self._windows)
            if h.proc is not None and h.proc.stdin is not None:
                with contextlib.suppress(ConnectionError):
                    h.proc.stdin.write(line)

    async def _rollover(self, clients: list[RestClient], handles: list[WorkerHandle]) -> list[WorkerHandle]:
        """New trading day: new masters and session windows; a changed selection gets a new plan
        and fresh workers."""
        self.say("trading-day cutoff: fetching the new day's masters")
        registrations, plan = self._plan(await self._masters(clients[0]))
        await self._refresh_sessions(handles)
        if registrations == self.result.registrations:
            return handles
        self.say(f"the selection changed ({len(registrations):,} registrations): re-planning the workers")
        await asyncio.gather(*(self._finish(h) for h in handles))
        self.result.registrations, self.result.plan = registrations, plan
        self.result.replans += 1
        fresh = [WorkerHandle(spec, keys) for spec, keys in self._specs(plan)]
        self.result.workers.extend(fresh)
        for h in fresh:
            await self._start(h)
        return fresh


__all__ = [
    "Supervisor",
    "SupervisorResult",
    "WorkerHandle",
    "worker_specs",
]
