"""Universe selection: from the config and the day's masters to (TR, symbol) registrations.

Pure functions of values. ``"all"`` takes every code in the master; a list is checked
against it, and codes the master does not know are reported (never silently dropped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gatherer.config import Config
from gatherer.errors import ConfigError
from gatherer.venues.ls.catalog import MARKET_CHANNELS
from gatherer.venues.ls.keys import format_tr_key


@dataclass(frozen=True, slots=True, order=True)
class Registration:
    """One real-time registration: a TR for one symbol."""

    market: str
    channel: str
    tr_cd: str
    symbol: str

    @property
    def tr_key(self) -> str:
        return format_tr_key(self.tr_cd, self.symbol)


def select(cfg: Config, masters: Mapping[str, Sequence[str]]) -> list[Registration]:
    """Every registration the config asks for, in a stable order.

    ``masters`` maps each configured market to its codes. Raises ConfigError naming
    the market and the codes its master does not list.
    """
    out: list[Registration] = []
    problems: list[str] = []
    for market, mc in cfg.markets.items():
        listed = masters.get(market, ())
        if mc.symbols == "all":
            symbols = list(dict.fromkeys(listed))
        else:
            known = set(listed)
            missing = [s for s in mc.symbols if s not in known]
            if missing:
                shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
                problems.append(
                    f"markets.{market}.symbols: {len(missing)} code(s)"
                    f" not in today's {market} master: {shown}"
                    f" (see `gatherer symbols --market {market}`)"
                )
            symbols = [s for s in dict.fromkeys(mc.symbols) if s in known]
        if mc.max_symbols is not None:
            symbols = symbols[: mc.max_symbols]
        for channel in cfg.channels_of(market):
            tr_cd = MARKET_CHANNELS[market][channel]
            out.extend(Registration(market, channel, tr_cd, s) for s in symbols)
    if problems:
        raise ConfigError("; ".join(problems))
    return out


def chunk(registrations: Sequence[Registration], per_connection: int) -> list[list[Registration]]:
    """Split registrations into connections of at most ``per_connection`` each, balanced."""
    if per_connection < 1:
        raise ValueError("per_connection must be at least 1")
    n = max(1, -(-len(registrations) // per_connection))
    return [list(registrations[i::n]) for i in range(n)] if registrations else []
