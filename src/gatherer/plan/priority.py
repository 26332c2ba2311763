"""What to leave out when a selection does not fit: the least traded, per market (``[plan] priority``).

With ``priority = "liquidity"`` (the default) a selection larger than the app keys hold is cut to
fit before packing: every ranking group keeps the same fraction of its codes (as near as whole codes
allow), its most traded ones by yesterday's traded value, and each code keeps all its channels.
KOSPI and KOSDAQ rank together (one KRW value, one list: "kept 600 of 4,212 KOSPI+KOSDAQ codes");
every other market ranks on its own, by code order where no values are known (the derivative and
overseas masters carry none). The notes say what was left out and the share of yesterday's value
kept. Pure functions of values; the values come from ``venues.ls.liquidity`` via ``run.prepare``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from gatherer.plan.select import Registration, Selection

VALUES = "values"
"""The masters key suffix of a market's traded values (``kospi.values``: symbol, value)."""
_STOCKS = ("kospi", "kosdaq")
_SHOWN = 10
"""Left-out codes a note names (the most traded of them first); the count says how many more."""


def values_key(market: str) -> str:
    return f"{market}.{VALUES}"


def values_of(tables: Mapping[str, object], market: str) -> dict[str, int] | None:
    """symbol -> traded value from ``tables[values_key(market)]``; None when there is no such table."""
    table = tables.get(values_key(market))
    if not isinstance(table, pa.Table):
        return None
    return dict(zip(table.column("symbol").to_pylist(), table.column("value").to_pylist(), strict=True))


@dataclass
class _Group:
    label: str
    codes: list[tuple[str, str]] = field(default_factory=list)
    """(market, symbol), most traded first (or in selection order without values)."""
    regs: list[int] = field(default_factory=list)
    values: list[int] | None = None
    keep: int = 0

    def cost(self, keep: int) -> int:
        return sum(self.regs[:keep])


def _groups(selection: Selection, values: Mapping[str, Mapping[str, int]]) -> list[_Group]:
    count: dict[tuple[str, str], int] = {}
    for r in selection.registrations:
        count[(r.market, r.symbol)] = count.get((r.market, r.symbol), 0) + 1
    markets = list(dict.fromkeys(m for m, _ in count))
    stocks = [m for m in markets if m in _STOCKS]
    keys = {m: ("+".join(stocks) if m in stocks and len(stocks) > 1 else m) for m in markets}
    groups: dict[str, _Group] = {}
    for (market, symbol), n in count.items():
        g = groups.setdefault(keys[market], _Group(keys[market].upper()))
        g.codes.append((market, symbol))
        g.regs.append(n)
    for g in groups.values():
        ms = {m for m, _ in g.codes}
        if all(m in values for m in ms):
            order = sorted(
                range(len(g.codes)), key=lambda i: (-values[g.codes[i][0]].get(g.codes[i][1], 0), i)
            )
            g.codes, g.regs = [g.codes[i] for i in order], [g.regs[i] for i in order]
            g.values = [values[m].get(s, 0) for m, s in g.codes]
    return list(groups.values())


def _allocate(groups: Sequence[_Group], capacity: int) -> None:
    """The largest common fraction of each group's codes that fits, then whole codes added round the
    groups (the one furthest below its share first) while they fit."""
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if sum(g.cost(int(mid * len(g.codes))) for g in groups) <= capacity:
            lo = mid
        else:
            hi = mid
    for g in groups:
        g.keep = int(lo * len(g.codes))
    used = sum(g.cost(g.keep) for g in groups)
    while True:
        open_ = [g for g in groups if g.keep < len(g.codes) and used + g.regs[g.keep] <= capacity]
        if not open_:
            return
        g = min(open_, key=lambda g: (g.keep / len(g.codes), g.label))
        used += g.regs[g.keep]
        g.keep += 1


def _note(g: _Group) -> str:
    n, k = len(g.codes), g.keep
    left = g.codes[k:]
    shown = ", ".join(s for _, s in left[:_SHOWN]) + (
        f" … (+{len(left) - _SHOWN:,} more)" if len(left) > _SHOWN else ""
    )
    regs = sum(g.regs[k:])
    if g.values is None:
        return (
            f"{g.label}: kept {k:,} of {n:,} codes in code order (no traded values for this market);"
            f" left out {n - k:,} codes ({regs:,} registrations): {shown}"
        )
    total = sum(g.values)
    share = sum(g.values[:k]) / total if total else 1.0
    return (
        f"kept {k:,} of {n:,} {g.label} codes = {share * 100:.0f} % of yesterday's value"
        f" (t8407); left out the {n - k:,} least traded ({regs:,} registrations): {shown}"
    )


def prioritize(selection: Selection, capacity: int, values: Mapping[str, Mapping[str, int]]) -> Selection:
    """The selection cut to ``capacity`` registrations by liquidity (unchanged when it fits), with
    notes saying what was left out per group and the value share kept. ``values``: market ->
    symbol -> yesterday's traded value, for the markets that have them."""
    total = len(selection.registrations)
    if total <= capacity:
        return selection
    groups = _groups(selection, values)
    _allocate(groups, capacity)
    kept = {c for g in groups for c in g.codes[: g.keep]}
    regs: list[Registration] = [r for r in selection.registrations if (r.market, r.symbol) in kept]
    notes = [
        *selection.notes,
        f"priority = liquidity: the selection needs {total:,} registrations and the app keys hold"
        f" {capacity:,} for it; the least traded are left out",
        *(_note(g) for g in groups if g.keep < len(g.codes)),
    ]
    return Selection(regs, notes)
