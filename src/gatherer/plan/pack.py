"""Subscription packing: registrations into connections, app keys and worker processes.

A pure, deterministic function of its inputs. Every connection holds at most
``registrations_per_connection`` registrations, every app key at most
``connections_per_key`` connections; connections are spread round-robin over the keys
and the worker processes, so their sizes differ by at most one. What does not fit is
returned in ``unplaced`` — never dropped silently — and ``explain`` says what to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from gatherer.plan.select import Registration


@dataclass(frozen=True, slots=True)
class Limits:
    connections_per_key: int
    registrations_per_connection: int
    registrations_per_s: float
    """Per app key (LS counts registration requests across TRs)."""
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("connections_per_key", "registrations_per_connection", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.registrations_per_s <= 0:
            raise ValueError("registrations_per_s must be above 0")


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

    @property
    def registration_seconds(self) -> float:
        """How long registering takes: each key paced serially, the keys in parallel."""
        per_key = [sum(len(c.registrations) for c in conns) for conns in self.by_key().values()]
        return max(per_key, default=0) / self.limits.registrations_per_s


def pack(registrations: Sequence[Registration], *, app_keys: int, limits: Limits) -> Plan:
    """Place registrations (sorted first, so the order given does not matter)."""
    if app_keys < 1:
        raise ValueError("at least one app key is needed")
    regs = sorted(set(registrations))
    capacity = app_keys * limits.connections_per_key * limits.registrations_per_connection
    placed, unplaced = regs[:capacity], regs[capacity:]
    if not placed:
        return Plan((), tuple(unplaced), limits, app_keys)
    n_conns = -(-len(placed) // limits.registrations_per_connection)
    # Round-robin over connections keeps each market's symbols spread evenly and sizes within one.
    groups = [tuple(placed[i::n_conns]) for i in range(n_conns)]
    workers = min(limits.workers, n_conns)
    connections = tuple(
        ConnectionPlan(index=i, key_index=i % app_keys, worker=i % workers, registrations=g)
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
