"""Universe selection: from the config and the day's masters to (TR, symbol) registrations.

Pure functions of values. ``"all"`` takes every code in the master; a list (and
``symbols_file``) is checked against it, with ``fnmatch`` patterns (``"A016*"``) allowed;
codes or patterns the master does not know are errors, never silently dropped. Filters
(``etf``, ``etn``, ``spac``, ``spreads``, ``products``, ``expiries``, ``strikes``) then
narrow the list, and each says in a note what it removed.

What the masters give (LS_OPENAPI.md §4): stocks carry ``etfgubun`` (as ``is_etf`` /
``is_etn``) and ``spac_gubun``; KOSPI200 futures and options carry the expiry in ``hname``
("F 2606", "C 2606 872.5", spreads "F SP 06-2609"); overseas series carry the product in
``BscGdsCd``, the expiry in ``LstngYr`` + ``LstngM`` (month letter), and options the strike
(``XrcPrc``) and the underlying's reference price (``FdasBasePrc``). At-the-money for
KOSPI200 options is the front future's previous close when the kfutures master is at hand,
else the strike where call and put previous closes are closest.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa

from gatherer.config import Config, MarketConfig
from gatherer.errors import ConfigError
from gatherer.venues.ls.catalog import MARKET_CHANNELS
from gatherer.venues.ls.keys import format_tr_key

_MONTHS = "FGHJKMNQUVXZ"  # futures month codes, January to December


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


@dataclass
class Selection:
    registrations: list[Registration] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What each filter removed, per market, for `gatherer plan`."""


Master: TypeAlias = pa.Table | Sequence[str]


def _rows(master: Master) -> list[dict[str, Any]]:
    if isinstance(master, pa.Table):
        rows: list[dict[str, Any]] = master.to_pylist()
        return rows
    return [{"symbol": s} for s in master]


def _listed(
    market: str, mc: MarketConfig, rows: list[dict[str, Any]], problems: list[str]
) -> list[dict[str, Any]]:
    """The rows the symbols setting names, in master order (or the config's order for a list)."""
    wanted: list[str] = [] if mc.symbols == "all" else list(mc.symbols)
    if mc.symbols_file is not None:
        text = Path(mc.symbols_file).read_text(encoding="utf-8")
        wanted += [
            line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()
        ]
    if mc.symbols == "all" and mc.symbols_file is None:
        return rows
    by_code = {r["symbol"]: r for r in rows}
    out: dict[str, dict[str, Any]] = {}
    missing = []
    for item in wanted:
        if any(ch in item for ch in "*?["):
            hits = [code for code in by_code if fnmatch.fnmatchcase(code, item)]
            if not hits:
                missing.append(item)
            out.update((code, by_code[code]) for code in hits)
        elif item in by_code:
            out[item] = by_code[item]
        else:
            missing.append(item)
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        problems.append(
            f"markets.{market}.symbols: {len(missing)} code(s) or pattern(s) match nothing in today's"
            f" {market} master: {shown} (see `gatherer symbols --market {market}`)"
        )
    return list(out.values())


def _expiry_krx(row: dict[str, Any]) -> str:
    parts = str(row.get("hname", "")).split()
    return parts[1] if len(parts) > 1 else ""


def _expiry_overseas(row: dict[str, Any]) -> str:
    month = str(row.get("LstngM", ""))
    return f"{row.get('LstngYr', '')}{_MONTHS.index(month) + 1:02d}" if month in _MONTHS and month else ""


def _strike_krx(row: dict[str, Any]) -> Decimal | None:
    parts = str(row.get("hname", "")).split()
    try:
        return Decimal(parts[2]) if len(parts) > 2 else None
    except ArithmeticError:
        return None


def _near(rows: list[dict[str, Any]], n: int, expiry_of: Any) -> list[dict[str, Any]]:
    expiries = sorted({e for r in rows if (e := expiry_of(r))})[:n]
    keep = set(expiries)
    return [r for r in rows if expiry_of(r) in keep]


def _around(rows: list[dict[str, Any]], k: int, strike_of: Any, atm: Decimal | None) -> list[dict[str, Any]]:
    strikes = sorted({s for r in rows if (s := strike_of(r)) is not None})
    if not strikes or atm is None:
        return rows
    i = min(range(len(strikes)), key=lambda j: (abs(strikes[j] - atm), strikes[j]))
    keep = set(strikes[max(0, i - k) : i + k + 1])
    return [r for r in rows if strike_of(r) in keep]


def _krx_option_atm(rows: list[dict[str, Any]], futures: Master | None) -> Decimal | None:
    if isinstance(futures, pa.Table):
        outright = [r for r in futures.to_pylist() if not str(r.get("hname", "")).startswith("F SP")]
        front = sorted(outright, key=_expiry_krx)
        if front and front[0].get("jnilclose"):
            return Decimal(front[0]["jnilclose"])

    def closes(kind: str) -> dict[Decimal, Decimal]:
        out = {}
        for r in rows:
            strike, close = _strike_krx(r), r.get("jnilclose")
            if str(r.get("hname", "")).startswith(kind) and strike is not None and close is not None:
                out[strike] = Decimal(close)
        return out

    calls, puts = closes("C"), closes("P")
    both = [s for s in calls if s in puts]
    return min(both, key=lambda s: abs(calls[s] - puts[s])) if both else None


def _filter(
    market: str, mc: MarketConfig, rows: list[dict[str, Any]], masters: Mapping[str, Master], notes: list[str]
) -> list[dict[str, Any]]:
    def narrow(rows: list[dict[str, Any]], keep: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
        if len(keep) < len(rows):
            notes.append(f"{market}: {len(rows) - len(keep):,} {what}")
        return keep

    if not mc.etf:
        rows = narrow(rows, [r for r in rows if not r.get("is_etf")], "ETFs excluded (etf = false)")
    if not mc.etn:
        rows = narrow(rows, [r for r in rows if not r.get("is_etn")], "ETNs excluded (etn = false)")
    if not mc.spac:
        rows = narrow(rows, [r for r in rows if r.get("spac_gubun") != "Y"], "SPACs excluded (spac = false)")
    if not mc.spreads:
        outright = [r for r in rows if not str(r.get("hname", "")).startswith("F SP")]
        rows = narrow(rows, outright, "spreads excluded (spreads = false)")
    if mc.products is not None:
        wanted = {p.removeprefix("O_") for p in mc.products}
        chosen = [r for r in rows if str(r.get("BscGdsCd", "")).removeprefix("O_") in wanted]
        rows = narrow(rows, chosen, f"series of other products excluded (products = {sorted(wanted)})")
    overseas = market in ("ofutures", "ooptions")
    expiry_of = _expiry_overseas if overseas else _expiry_krx
    if mc.expiries is not None:
        near = _near(rows, mc.expiries, expiry_of)
        rows = narrow(rows, near, f"series beyond the nearest {mc.expiries} expiries excluded")
    if mc.strikes is not None:
        # At-the-money per expiry (and per product, overseas).
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault((str(r.get("BscGdsCd", "")), expiry_of(r)), []).append(r)
        kept: list[dict[str, Any]] = []
        for group in groups.values():
            if overseas:
                base = group[0].get("FdasBasePrc")
                atm = Decimal(base) if base not in (None, "") else None
                kept += _around(group, mc.strikes, lambda r: r.get("XrcPrc"), atm)
            else:
                kept += _around(
                    group, mc.strikes, _strike_krx, _krx_option_atm(group, masters.get("kfutures"))
                )
        rows = narrow(rows, kept, f"strikes more than {mc.strikes} steps from at-the-money excluded")
    return rows


def select_with_notes(cfg: Config, masters: Mapping[str, Master]) -> Selection:
    """Every registration the config asks for, in a stable order, with what the filters removed.

    ``masters`` maps each configured market to its master table (or just its codes).
    Raises ConfigError naming every market whose list names codes the master lacks.
    """
    out = Selection()
    problems: list[str] = []
    for market, mc in cfg.markets.items():
        rows = _listed(market, mc, _rows(masters.get(market, ())), problems)
        rows = _filter(market, mc, rows, masters, out.notes)
        symbols = list(dict.fromkeys(r["symbol"] for r in rows))
        if mc.max_symbols is not None and len(symbols) > mc.max_symbols:
            out.notes.append(f"{market}: {len(symbols) - mc.max_symbols:,} codes beyond max_symbols excluded")
            symbols = symbols[: mc.max_symbols]
        for channel in cfg.channels_of(market):
            tr_cd = MARKET_CHANNELS[market][channel]
            out.registrations.extend(Registration(market, channel, tr_cd, s) for s in symbols)
    if problems:
        raise ConfigError("; ".join(problems))
    return out


def select(cfg: Config, masters: Mapping[str, Master]) -> list[Registration]:
    """The registrations of ``select_with_notes``."""
    return select_with_notes(cfg, masters).registrations


def chunk(registrations: Sequence[Registration], per_connection: int) -> list[list[Registration]]:
    """Split registrations into connections of at most ``per_connection`` each, balanced."""
    if per_connection < 1:
        raise ValueError("per_connection must be at least 1")
    n = max(1, -(-len(registrations) // per_connection))
    return [list(registrations[i::n]) for i in range(n)] if registrations else []
