"""Shards: one planned universe split over several hosts (``gatherer run --shard 2/3``), each with its
own app keys, so that together they record what none could alone.

The unit is a symbol of a market (every TR of it goes to the same shard, so one host holds a
symbol's book and its trades). The split is

- **deterministic**: a pure function of the selection and the shard count, computed the same on
  every host from the same masters;
- **balanced by expected load**: each symbol weighs the frames its channels are expected to bring
  (``CHANNEL_LOAD``: books tick several times as often as trades); symbols are placed heaviest first,
  each on the shard that ranks highest for it (rendezvous hashing) among those still under
  ``(1 + SLACK)`` times the mean load, so no shard carries much more than its share;
- **stable**: a symbol's ranking of the shards depends on its own name only, so a symbol added to or
  removed from the universe moves few others (only where a shard's bound is reached differently).

Limits: the weights are per channel, not per symbol (yesterday's activity is not used), so two shards
of equal expected load can differ in real traffic on a day one name is in the news.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gatherer.errors import ConfigError
from gatherer.plan.select import Registration, Selection

CHANNEL_LOAD: dict[str, float] = {"book": 3.0, "trade": 1.0, "broker": 1.0}
"""Relative frames per registration by channel; channels not listed weigh 1."""
SLACK = 0.02


class ShardError(ConfigError):
    """A ``--shard`` value that is not ``K/N`` with 1 <= K <= N."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> (2, 3): the second of three shards (numbered from 1)."""
    try:
        k, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise ShardError(f"--shard {text!r}: expected K/N such as 2/3 (shard K of N, from 1)") from None
    if not 1 <= k <= n:
        raise ShardError(f"--shard {text!r}: K must be between 1 and N (here N = {n})")
    return k, n


def _rank(unit: tuple[str, str], shard: int) -> int:
    digest = hashlib.blake2b(f"{unit[0]}:{unit[1]}:{shard}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def load_of(registrations: Sequence[Registration]) -> float:
    return sum(CHANNEL_LOAD.get(r.channel, 1.0) for r in registrations)


def split(registrations: Sequence[Registration], shards: int) -> list[list[Registration]]:
    """The registrations of each of ``shards`` shards (index 0 is shard 1), in selection order."""
    units: dict[tuple[str, str], list[Registration]] = {}
    for r in registrations:
        units.setdefault((r.market, r.symbol), []).append(r)
    weight = {u: load_of(rs) for u, rs in units.items()}
    bound = (1 + SLACK) * sum(weight.values()) / shards
    loads = [0.0] * shards
    home: dict[tuple[str, str], int] = {}
    for unit in sorted(units, key=lambda u: (-weight[u], u)):
        order = sorted(range(shards), key=lambda s: _rank(unit, s), reverse=True)
        fits = [s for s in order if loads[s] + weight[unit] <= bound]
        chosen = fits[0] if fits else min(order, key=lambda s: loads[s])
        home[unit] = chosen
        loads[chosen] += weight[unit]
    out: list[list[Registration]] = [[] for _ in range(shards)]
    for r in registrations:
        out[home[(r.market, r.symbol)]].append(r)
    return out


def shard_of(registrations: Sequence[Registration], shard: tuple[int, int]) -> list[Registration]:
    k, n = shard
    return split(registrations, n)[k - 1]


def shard_selection(selection: Selection, shard: str) -> Selection:
    """The selection cut to shard ``"K/N"``, with a note saying so (for the plan's printout)."""
    k, n = parse_shard(shard)
    part = shard_of(selection.registrations, (k, n))
    note = (
        f"shard {k}/{n}: {len(part):,} of {len(selection.registrations):,} registrations,"
        f" {load_of(part) / (load_of(selection.registrations) or 1.0):.1%} of the expected load"
    )
    return Selection(part, [*selection.notes, note])


def explain_shards(registrations: Sequence[Registration], shards: int) -> str:
    """What `gatherer plan --shards N` prints: each shard's registrations, symbols and expected load."""
    parts = split(registrations, shards)
    total = load_of(registrations) or 1.0
    lines = [f"{shards} shards of {len(registrations):,} registrations (run each with --shard K/{shards}):"]
    for i, part in enumerate(parts, 1):
        markets: dict[str, int] = {}
        for r in part:
            markets[r.market] = markets.get(r.market, 0) + 1
        listed = ", ".join(f"{m} {n:,}" for m, n in sorted(markets.items()))
        symbols = len({(r.market, r.symbol) for r in part})
        lines.append(
            f"  shard {i}/{shards}: {len(part):,} registrations, {symbols:,} symbols,"
            f" {load_of(part) / total:.1%} of the expected load ({listed})"
        )
    return "\n".join(lines)


__all__ = [
    "CHANNEL_LOAD",
    "ShardError",
    "explain_shards",
    "parse_shard",
    "shard_of",
    "shard_selection",
    "split",
]
