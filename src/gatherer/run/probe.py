"""`gatherer probe-limits`: what one app key may do on the venue, measured politely.

LS publishes no WebSocket limits (LS_OPENAPI.md §2.7), so the collector plans with conservative
defaults (3 connections × 200 registrations, 20 registrations/s per key). This measures them for
the account at hand, in minutes, with bounded attempts and pauses, and leaves nothing behind:

1. **Connections**: open connections one at a time (``stagger_s`` apart), each registering the
   market-status feed (JIF, ``0``), until the venue refuses one (a refused handshake or a
   non-``00000`` answer) or ``max_connections`` are open. Then all but the first are closed.
2. **Registration rate**: one burst of ``rate_burst`` registration requests for the JIF already held
   (the venue answers a repeated registration as accepted, and counts it), after a pause that
   empties the venue's one-second window: the accepted ones before the first IGW00201 are what one
   second tolerates.
3. **Registrations per connection**: the config's selection, in plan order, registered on one
   connection at 80 % of the measured rate until the venue refuses one (IGW00201 answers are sent
   again after a pause) or ``max_registrations`` are held; then ``watch_s`` of listening: a venue
   that acknowledges past its limit but never streams shows as registrations that deliver nothing
   after the last one that does (silent non-delivery). That needs a selection that trades while
   probing: off-hours, overseas futures (``[markets.ofutures]``) do.
4. Everything registered is unregistered, every connection closed.

The result is written as JSON (``limits_path``) for `gatherer plan` and `gatherer run`
(``run.limits``). Only ``00000`` is acceptance; any other answer is a refusal (its code kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gatherer.clock import Clock, to_seoul
from gatherer.errors import ConnectError, SessionLost
from gatherer.plan.select import Registration
from gatherer.venues.ls.envelope import RATE_LIMITED_CODE, SUBSCRIBE, frame_stream, stream_key
from gatherer.venues.ls.ws import Ack, Session

log = logging.getLogger(__name__)
Say = Callable[[str], None]
STATUS = ("JIF", "0")


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    max_connections: int = 20
    """Connections tried at most (the answer is then "at least this many")."""
    max_registrations: int = 3000
    """Registrations tried on one connection at most."""
    rate_burst: int = 300
    """Requests in the rate burst (the answer is at most this)."""
    watch_s: float = 20.0
    """Listening after the registrations, for silent non-delivery."""
    stagger_s: float = 0.3
    """Pause between two connection attempts."""
    window_s: float = 1.2
    """Pause that empties the venue's one-second rate window."""
    timeout_s: float = 10.0
    """Wait for one acknowledgement at most."""


@dataclass
class Measured:
    """What the probe found; ``None`` where it could not tell (the notes say why)."""

    measured_at: str
    ws_url: str
    connections_per_key: int | None = None
    registrations_per_connection: int | None = None
    registrations_per_s: float | None = None
    silent_past: int | None = None
    """Registrations acknowledged past this many delivered nothing (silent non-delivery)."""
    notes: list[str] = field(default_factory=list)


class _Conn:
    """One probe connection: its session and the frames seen per stream."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.frames: Counter[bytes] = Counter()

    def on_frame(self, payload: bytes, _recv_ns: int) -> None:
        key = frame_stream(payload)
        if key is not None:
            self.frames[key] += 1


async def _open(url: str, n: int, clock: Clock) -> _Conn:
    conn = _Conn()
    conn.session = await Session.connect(url, f"probe-{n}", conn.on_frame, clock=clock)
    return conn


async def _close(conn: _Conn) -> None:
    if conn.session is not None:
        with contextlib.suppress(Exception):
            await conn.session.close()


async def _connections(
    url: str, token: str, s: ProbeSettings, clock: Clock, out: Measured, say: Say
) -> list[_Conn]:
    conns: list[_Conn] = []
    for n in range(1, s.max_connections + 1):
        try:
            conn = await _open(url, n, clock)
        except ConnectError as exc:
            out.connections_per_key = len(conns)
            out.notes.append(f"connection {n} was refused at the handshake ({exc})")
            return conns
        assert conn.session is not None
        try:
            ack = await conn.session.subscribe(token, *STATUS, timeout_s=s.timeout_s)
        except (TimeoutError, SessionLost) as exc:
            ack = Ack(*STATUS, SUBSCRIBE, "-", f"no answer ({type(exc).__name__})", 0)
        if not ack.accepted:
            await _close(conn)
            out.connections_per_key = len(conns)
            out.notes.append(f"connection {n} refused: {ack.rsp_cd} {ack.rsp_msg}")
            return conns
        conns.append(conn)
        say(f"connection {n}: accepted")
        await asyncio.sleep(s.stagger_s)
    out.notes.append(f"all {s.max_connections} connections tried were accepted: the limit is at least that")
    return conns


async def _rate(conn: _Conn, token: str, s: ProbeSettings, out: Measured, say: Say) -> None:
    session = conn.session
    assert session is not None
    await asyncio.sleep(s.window_s)
    futures = [session.send_registration(token, SUBSCRIBE, *STATUS) for _ in range(s.rate_burst)]
    acks: list[Ack] = []
    for fut in futures:
        try:
            acks.append(await asyncio.wait_for(fut, s.timeout_s))
        except TimeoutError:
            session.abandon(fut)
            break
    limited = [i for i, a in enumerate(acks) if a.rsp_cd == RATE_LIMITED_CODE]
    accepted = sum(a.accepted for a in acks[: limited[0] if limited else len(acks)])
    if limited:
        out.registrations_per_s = float(accepted)
        say(f"registration rate: {accepted} accepted in one second, then {RATE_LIMITED_CODE}")
    else:
        out.notes.append(f"a burst of {len(acks)} registrations was all accepted: the rate is at least that")
    other = [a for a in acks if not a.accepted and a.rsp_cd != RATE_LIMITED_CODE]
    if other:
        out.notes.append(f"the rate burst also drew {len(other)} other refusal(s), e.g. {other[0].rsp_cd}")
    await asyncio.sleep(s.window_s)


async def _register(
    conn: _Conn, token: str, pairs: Sequence[tuple[str, str]], per_s: float, s: ProbeSettings, out: Measured
) -> list[tuple[str, str]]:
    """Pairs accepted, in order, until the first refusal; IGW00201 answers are sent again."""
    session = conn.session
    assert session is not None
    accepted: list[tuple[str, str]] = []
    interval = 1.0 / per_s
    for pair in pairs[: s.max_registrations]:
        for _attempt in range(5):
            try:
                ack = await session.subscribe(token, *pair, timeout_s=s.timeout_s)
            except TimeoutError:
                ack = Ack(*pair, SUBSCRIBE, "-", f"no answer in {s.timeout_s:g} s", 0)
            await asyncio.sleep(interval)
            if ack.rsp_cd != RATE_LIMITED_CODE:
                break
            await asyncio.sleep(s.window_s)
        if not ack.accepted:
            out.registrations_per_connection = len(accepted)
            out.notes.append(f"registration {len(accepted) + 1} refused: {ack.rsp_cd} {ack.rsp_msg}")
            return accepted
        accepted.append(pair)
    return accepted


def _silent(conn: _Conn, accepted: Sequence[tuple[str, str]], out: Measured) -> None:
    delivered = [i for i, (tr, key) in enumerate(accepted) if conn.frames[stream_key(tr, key)] > 0]
    if not delivered:
        out.notes.append(
            f"none of the {len(accepted)} registrations delivered a frame while listening: silent"
            " non-delivery not checked (choose markets that trade now, e.g. [markets.ofutures])"
        )
        return
    last = delivered[-1] + 1
    out.notes.append(
        f"{len(delivered)} of the {len(accepted)} registrations delivered frames while listening"
    )
    if last < len(accepted):
        out.silent_past = last
        out.registrations_per_connection = min(out.registrations_per_connection or last, last)
        out.notes.append(
            f"registrations past the {last}th were acknowledged but delivered nothing: silent non-delivery"
        )
    elif out.registrations_per_connection is None:
        out.notes.append(
            f"all {len(accepted)} registrations were accepted and the last delivered:"
            " the limit is at least that"
        )


async def _unregister(
    conn: _Conn, token: str, pairs: Sequence[tuple[str, str]], per_s: float, s: ProbeSettings
) -> None:
    session = conn.session
    if session is None or not session.connected:
        return
    for pair in pairs:
        with contextlib.suppress(TimeoutError, SessionLost):
            await session.unsubscribe(token, *pair, timeout_s=s.timeout_s)
        await asyncio.sleep(1.0 / per_s)


async def probe(
    url: str,
    token: str,
    registrations: Sequence[Registration],
    clock: Clock,
    settings: ProbeSettings,
    say: Say,
    *,
    fallback_per_s: float,
) -> Measured:
    """Measure one app key's limits on the venue at ``url`` (see the module docstring)."""
    out = Measured(measured_at=to_seoul(clock.time_ns()).isoformat(timespec="seconds"), ws_url=url)
    conns = await _connections(url, token, settings, clock, out, say)
    if not conns:
        out.notes.append("no connection was accepted: nothing else measured")
        return out
    first, rest = conns[0], conns[1:]
    try:
        for conn in rest:
            await _unregister(conn, token, [STATUS], fallback_per_s, settings)
            await _close(conn)
        await _rate(first, token, settings, out, say)
        await _unregister(first, token, [STATUS], fallback_per_s, settings)
        per_s = 0.8 * (out.registrations_per_s or fallback_per_s)
        pairs = list(dict.fromkeys((r.tr_cd, r.tr_key) for r in registrations))
        say(
            f"registering up to {min(len(pairs), settings.max_registrations):,} on one connection"
            f" at {per_s:g}/s"
        )
        accepted = await _register(first, token, pairs, per_s, settings, out)
        say(f"{len(accepted):,} accepted; listening {settings.watch_s:g} s for what streams")
        await asyncio.sleep(settings.watch_s)
        _silent(first, accepted, out)
        if out.registrations_per_connection is None and len(pairs) <= settings.max_registrations:
            out.notes.append(
                f"the selection has only {len(pairs):,} registrations: use a larger one to find the limit"
            )
        say(f"unregistering {len(accepted):,}")
        await _unregister(first, token, accepted, per_s, settings)
    finally:
        for conn in conns:
            await _close(conn)
    return out


def write_measured(path: Path, measured: Measured) -> None:
    """The JSON file, written whole (a temporary name, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write((json.dumps(asdict(measured), ensure_ascii=False, indent=1) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def limits_path(root: str | Path) -> Path:
    """Where `gatherer probe-limits` writes, and `gatherer plan` / `run` look, by default."""
    return Path(root) / "state" / "venue-limits.json"


__all__ = ["Measured", "ProbeSettings", "limits_path", "probe", "write_measured"]
