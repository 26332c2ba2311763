"""Subscription packing: registrations into connections, app keys and worker processes.

A pure, deterministic function of its inputs. Every connection holds at most
``registrations_per_connection`` registrations, every app key at most
``connections_per_key`` connections. A drop costs every stream of its connection, so the
registrations are spread over every connection the limits allow (163 registrations on one
key of 3 connections: 3 connections of 54–55, not one of 163), round-robin over the keys, so
connection sizes differ by at most one. All connections of an app key go to one worker
process, because the venue counts registrations per app key (LS_OPENAPI.md §1.4, §2.7): the
worker paces each key on its own, and no key's rate is split between processes. What does
not fit is returned in ``unplaced`` — never dropped silently — and ``explain`` says what to
change.

``registration_seconds`` is what registering takes as the worker does it (``run.worker``):
each key's connections connect in turns ``reconnect_stagger_s`` apart and share the key's
pace (``slot_at``: on average one request every ``registration_interval_s``); the keys run in
parallel.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gatherer.plan.select import Registration

REGISTRATION_MARGIN = 0.05
"""Registrations go this much slower than ``registrations_per_s``: the venue counts a request when it
arrives, and arrivals bunch by the network's and the venue's jitter; evenly spaced sends 5 % apart
leave 50 ms of it before a one-second window holds one too many (IGW00201)."""
CONNECT_S = 0.05
"""What the estimate allows for one WebSocket handshake (loopback: a few ms; LS over TLS: more)."""
ACK_RTT_S = 0.05
"""What the estimate allows for the last acknowledgement to come back."""


MIN_SPACING = 0.8
"""Two registrations of a key go at least this many intervals apart (a late one is made up by the
next ones, a little faster, instead of delaying all that follow)."""


def registration_interval_s(per_s: float) -> float:
    """Seconds between two registration requests of one app key, on average (``REGISTRATION_MARGIN``
    under the rate)."""
    return (1.0 + REGISTRATION_MARGIN) / per_s


def registration_burst(per_s: float) -> int:
    """How many registrations the venue's one-second window holds: ``per_s``, whole (at least 1)."""
    return max(1, int(per_s))


def slot_at(sent: Sequence[float], interval_s: float, burst: int) -> float:
    """When a key's next registration may go, given the times of its latest ones (oldest first, at
    least the last ``burst``): never more than ``burst`` within ``burst × interval_s`` (the venue's
    window plus the margin), never closer than ``MIN_SPACING`` intervals. So a slot that went late
    (a busy event loop) is made up by the next ones, and no window ever holds one too many."""
    if not sent:
        return 0.0
    at = sent[-1] + interval_s * MIN_SPACING
    if len(sent) >= burst:
        at = max(at, sent[-burst] + burst * interval_s)
    return at


def key_registration_s(sizes: Sequence[int], *, per_s: float, stagger_s: float) -> float:
    """How long one app key's connections take to register ``sizes`` registrations each.

    The worker's model (``run.worker``): connection i connects in its key's turn, ``stagger_s``
    after the previous attempt ended (each takes ``CONNECT_S``); the key's pace hands out slots at
    ``slot_at`` to whichever connection waits, so it idles only when no connected connection has
    anything left to send. The last send's acknowledgement ends it.
    """
    interval, burst = registration_interval_s(per_s), registration_burst(per_s)
    ready = [(i * (CONNECT_S + stagger_s) + CONNECT_S, n) for i, n in enumerate(sizes) if n > 0]
    sent: deque[float] = deque(maxlen=burst)
    waiting, arrived = 0, 0
    for _ in range(sum(n for _, n in ready)):
        at = slot_at(sent, interval, burst)
        if not waiting:  # idle until the next connection is up
            at = max(at, ready[arrived][0])
        while arrived < len(ready) and ready[arrived][0] <= at:
            waiting += ready[arrived][1]
            arrived += 1
        sent.append(at)
        waiting -= 1
    return sent[-1] + ACK_RTT_S if sent else 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    connections_per_key: int
    registrations_per_connection: int
    registrations_per_s: float
    """Per app key (LS counts registration requests across TRs)."""
    workers: int = 1
    reconnect_stagger_s: float = 0.2
    """Spacing of one app key's connection attempts (``venue.reconnect_stagger_s``)."""

    def __post_init__(self) -> None:
        for name in ("connections_per_key", "registrations_per_connection", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.registrations_per_s <= 0:
            raise ValueError("registrations_per_s must be above 0")
        if self.reconnect_stagger_s < 0:
            raise ValueError("reconnect_stagger_s must be 0 or more")


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    index: int
    key_index: int
    worker: int
    registrations: tuple[Registration, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    connections: tuple[ConnectionPlan, ...]
    unplaced: tuple[Registration, ...]
    limits: Limits
    app_keys: int

    @property
    def fits(self) -> bool:
        return not self.unplaced

    @property
    def placed(self) -> int:
        return sum(len(c.registrations) for c in self.connections)

    def by_key(self) -> dict[int, list[ConnectionPlan]]:
        out: dict[int, list[ConnectionPlan]] = {}
        for c in self.connections:
            out.setdefault(c.key_index, []).append(c)
        return out

    def by_worker(self) -> dict[int, list[ConnectionPlan]]:
        out: dict[int, list[ConnectionPlan]] = {}
        for c in self.connections:
            out.setdefault(c.worker, []).append(c)
        return out

    def key_seconds(self) -> dict[int, float]:
        """Per app key: how long registering its connections takes (``key_registration_s``)."""
        lim = self.limits
        return {
            key: key_registration_s(
                [len(c.registrations) for c in conns],
                per_s=lim.registrations_per_s,
                stagger_s=lim.reconnect_stagger_s,
            )
            for key, conns in self.by_key().items()
        }

    @property
    def registration_seconds(self) -> float:
        """How long registering takes: each key at its own pace, the keys in parallel. A drop of
        every connection (a venue restart) takes as long again, after the reconnect backoff."""
        return max(self.key_seconds().values(), default=0.0)


def pack(registrations: Sequence[Registration], *, app_keys: int, limits: Limits) -> Plan:
    """Place registrations (sorted first, so the order given does not matter)."""
    if app_keys < 1:
        raise ValueError("at least one app key is needed")
    regs = sorted(set(registrations))
    capacity = app_keys * limits.connections_per_key * limits.registrations_per_connection
    placed, unplaced = regs[:capacity], regs[capacity:]
    if not placed:
        return Plan((), tuple(unplaced), limits, app_keys)
    # Every connection the keys allow (a drop then costs the fewest streams), one registration at least.
    n_conns = min(app_keys * limits.connections_per_key, len(placed))
    # Round-robin over connections keeps each market's symbols spread evenly and sizes within one.
    groups = [tuple(placed[i::n_conns]) for i in range(n_conns)]
    keys = min(app_keys, n_conns)
    workers = min(limits.workers, keys)
    # A key's connections stay in one worker (its pace is the worker's); keys round-robin over workers.
    connections = tuple(
        ConnectionPlan(index=i, key_index=i % keys, worker=(i % keys) % workers, registrations=g)
        for i, g in enumerate(groups)
    )
    return Plan(connections, tuple(unplaced), limits, app_keys)


MARKET_STATUS = Registration("all", "status", "JIF", "0")
"""LS's market-status feed (JIF, tr_key ``0``, LS_OPENAPI.md §3.1): opens, halts, closes of KRX. Its
market is ``all``, the name its rows are stored under (``decode.STATUS_MARKET``)."""
KRX_MARKETS = frozenset({"kospi", "kosdaq", "kfutures", "koptions"})


def with_market_status(plan: Plan) -> Plan:
    """The plan with JIF added for every worker that records a KRX market, on its least-loaded
    connection with room, so that worker's stall watchdog knows a delayed open, a halt or an early
    close (``venues.ls.sessions.MarketStatus``). A worker whose connections are all full does
    without: its watchdog follows the exchange calendar alone."""
    conns = list(plan.connections)
    for wconns in plan.by_worker().values():
        regs = [r for c in wconns for r in c.registrations]
        if MARKET_STATUS in regs or not any(r.market in KRX_MARKETS for r in regs):
            continue
        room = [c for c in wconns if len(c.registrations) < plan.limits.registrations_per_connection]
        if room:
            target = min(room, key=lambda c: (len(c.registrations), c.index))
            conns[conns.index(target)] = replace(target, registrations=(*target.registrations, MARKET_STATUS))
    return replace(plan, connections=tuple(conns))
