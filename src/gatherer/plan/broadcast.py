"""VI for every stock in every worker that records stocks: the session column needs it there.

A registration for every stock (``vi`` channel, symbol ``000000``) is selected once per venue
(``plan.select``) and placed on one connection by the packer. Each worker's store labels its rows'
``session`` from the VI frames in its own journal (``decode.phases``), so every worker that records
a venue's stock feeds gets that venue's VI registration too, on its least-loaded connection with
room (a worker whose connections are all full does without, and its rows are never ``halted`` by
a VI). The copies make the VI rows appear once per such worker in Parquet, as JIF's do.
"""

from __future__ import annotations

from dataclasses import replace

from gatherer.plan.pack import Plan
from gatherer.plan.select import Registration
from gatherer.venues.ls.catalog import ALL_SYMBOLS, CATALOG

_STOCKS = ("kospi", "kosdaq")


def _every_stock(r: Registration) -> bool:
    return r.channel == "vi" and r.symbol == ALL_SYMBOLS


def with_vi_everywhere(plan: Plan) -> Plan:
    """The plan with each venue's VI-for-every-stock registration on every worker recording that
    venue's stocks (see the module docstring)."""
    everywhere = sorted({r for c in plan.connections for r in c.registrations if _every_stock(r)})
    if not everywhere:
        return plan
    conns = list(plan.connections)
    limit = plan.limits.registrations_per_connection
    for worker in sorted(plan.by_worker()):
        mine = [i for i, c in enumerate(conns) if c.worker == worker]
        held = {r for i in mine for r in conns[i].registrations}
        venues = {CATALOG[r.tr_cd].venue for r in held if r.market in _STOCKS and not _every_stock(r)}
        for vi in everywhere:
            if vi in held or CATALOG[vi.tr_cd].venue not in venues:
                continue
            room = [i for i in mine if len(conns[i].registrations) < limit]
            if room:
                target = min(room, key=lambda i: (len(conns[i].registrations), conns[i].index))
                conns[target] = replace(conns[target], registrations=(*conns[target].registrations, vi))
    return replace(plan, connections=tuple(conns))
