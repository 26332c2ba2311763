"""Universe selection: from the config and the day's masters to (TR, symbol) registrations.

Pure functions of values. ``"all"`` takes every code in the master; a list (and
``symbols_file``) is checked against it, with ``fnmatch`` patterns (``"A016*"``) allowed;
codes or patterns the master does not know are errors, never silently dropped. Filters
(``etf``, ``etn``, ``spac``, ``spreads``, ``products``, ``expiries``, ``strikes``) then
narrow the list, and each says in a note what it removed. A code named exactly (in
``symbols`` or ``symbols_file``, not through a pattern) is an explicit choice: no filter
removes it. ``max_symbols`` comes last and keeps the first codes in master order. A master
given as codes only (no table) allows no filter: one configured anyway is a ConfigError.

What the masters give (LS_OPENAPI.md §4): stocks carry ``etfgubun`` (as ``is_etf`` /
``is_etn``) and ``spac_gubun`` — but nothing about index membership, hence ``symbols_file``
for KOSPI200 constituents. KOSPI200 futures and options carry the expiry in ``hname``
("F 2606", "C 2606 872.5"; spreads "F SP 06-2609" count at their near leg; they are listed
instruments with their own book and trades, recorded unless ``spreads = false``). Overseas
series carry the product in ``BscGdsCd`` ("ES"; options "O_ES", and ``products`` accepts
either), the expiry in ``LstngYr`` + ``LstngM``
(month letter), and options the strike (``XrcPrc``) and the underlying's reference price
(``FdasBasePrc``); ``expiries`` counts per product.

At-the-money, for ``strikes`` (K listed strikes each side of it, per expiry):
- KOSPI200 options: the front (nearest-expiry, non-spread) KOSPI200 future's previous close
  (``jnilclose``, or ``recprice`` when there was no close) when the kfutures master is passed
  in ``masters``; otherwise, per expiry, the strike whose call and put previous closes are
  closest (put-call parity puts the forward there).
- Overseas options: ``FdasBasePrc`` of the series.
When no price is known every strike of that expiry is kept, and a note says so.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeAlias

import pyarrow as pa

from gatherer.config import Config, MarketConfig
from gatherer.errors import ConfigError
from gatherer.venues.ls.catalog import ALL_SYMBOLS, NIGHT_CHANNELS
from gatherer.venues.ls.channels import VENUE_CHANNELS
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
) -> tuple[list[dict[str, Any]], set[str]]:
    """The rows the symbols setting names, in master order (or the config's order for a list),
    and the codes named exactly (not by a pattern), which the filters leave alone."""
    if mc.symbols == "all":
        if mc.symbols_file is not None:
            # parse_config reads the file into ``symbols``; planning does no I/O.
            raise ConfigError(
                f"markets.{market}.symbols_file: not read; load the config with load_config/parse_config"
            )
        return rows, set()
    wanted = list(mc.symbols)
    by_code = {r["symbol"]: r for r in rows}
    out: dict[str, dict[str, Any]] = {}
    explicit: set[str] = set()
    missing = []
    for item in wanted:
        if any(ch in item for ch in "*?["):
            hits = [code for code in by_code if fnmatch.fnmatchcase(code, item)]
            if not hits:
                missing.append(item)
            out.update((code, by_code[code]) for code in hits)
        elif item in by_code:
            out[item] = by_code[item]
            explicit.add(item)
        else:
            missing.append(item)
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        problems.append(
            f"markets.{market}.symbols: {len(missing)} code(s) or pattern(s) match nothing in today's"
            f" {market} master: {shown} (see `gatherer symbols --market {market}`)"
        )
    return list(out.values()), explicit


def _is_spread(row: dict[str, Any]) -> bool:
    return str(row.get("hname", "")).startswith("F SP")


def _expiry_krx(row: dict[str, Any]) -> str:
    """YYMM from "F 2606" / "C 2606 872.5"; a spread ("F SP 06-2609") counts at its near leg."""
    parts = str(row.get("hname", "")).split()
    if len(parts) > 2 and parts[1] == "SP":
        near, _, far = parts[2].partition("-")
        if len(near) == 2 and len(far) == 4 and (near + far).isdigit():
            far_year = int(far[:2])
            year = far_year if int(near) <= int(far[2:]) else (far_year - 1) % 100
            return f"{year:02d}{near}"
        return ""
    return parts[1] if len(parts) > 1 and parts[1].isdigit() else ""


def _expiry_overseas(row: dict[str, Any]) -> str:
    month = str(row.get("LstngM") or "")
    year = str(row.get("LstngYr") or "")
    return f"{year}{_MONTHS.index(month) + 1:02d}" if len(month) == 1 and month in _MONTHS and year else ""


def _strike_krx(row: dict[str, Any]) -> Decimal | None:
    parts = str(row.get("hname", "")).split()
    try:
        return Decimal(parts[2]) if len(parts) > 2 else None
    except ArithmeticError:
        return None


def _strike_overseas(row: dict[str, Any]) -> Decimal | None:
    value = row.get("XrcPrc")
    return Decimal(value) if value is not None else None


def _product(row: dict[str, Any]) -> str:
    return str(row.get("BscGdsCd") or "").removeprefix("O_")


def _near(
    rows: list[dict[str, Any]], n: int, expiry_of: Callable[[dict[str, Any]], str]
) -> list[dict[str, Any]]:
    """The rows of each product's nearest ``n`` expiries (KRX masters hold one product)."""
    keep: set[tuple[str, str]] = set()
    by_product: dict[str, set[str]] = {}
    for r in rows:
        if e := expiry_of(r):
            by_product.setdefault(_product(r), set()).add(e)
    for product, expiries in by_product.items():
        keep.update((product, e) for e in sorted(expiries)[:n])
    return [r for r in rows if (_product(r), expiry_of(r)) in keep]


def _around(
    rows: list[dict[str, Any]], k: int, strike_of: Callable[[dict[str, Any]], Decimal | None], atm: Decimal
) -> list[dict[str, Any]]:
    strikes = sorted({s for r in rows if (s := strike_of(r)) is not None})
    if not strikes:
        return rows
    i = min(range(len(strikes)), key=lambda j: (abs(strikes[j] - atm), strikes[j]))
    keep = set(strikes[max(0, i - k) : i + k + 1])
    return [r for r in rows if strike_of(r) in keep]


def _price(row: dict[str, Any]) -> Decimal | None:
    """The previous close, or the reference price when there was no close (``jnilclose`` 0)."""
    for name in ("jnilclose", "recprice"):
        value = row.get(name)
        if value is not None and Decimal(value) > 0:
            return Decimal(value)
    return None


def _krx_option_atm(rows: list[dict[str, Any]], futures: Master | None) -> Decimal | None:
    if isinstance(futures, pa.Table) and "hname" in futures.column_names:
        outright = [r for r in futures.to_pylist() if not _is_spread(r) and _expiry_krx(r)]
        front = sorted(outright, key=_expiry_krx)
        if front and (close := _price(front[0])) is not None:
            return close

    def closes(kind: str) -> dict[Decimal, Decimal]:
        out = {}
        for r in rows:
            strike, close = _strike_krx(r), _price(r)
            if str(r.get("hname", "")).startswith(kind) and strike is not None and close is not None:
                out[strike] = close
        return out

    calls, puts = closes("C"), closes("P")
    both = [s for s in calls if s in puts]
    return min(both, key=lambda s: (abs(calls[s] - puts[s]), s)) if both else None


def _overseas_atm(rows: list[dict[str, Any]]) -> Decimal | None:
    for r in rows:
        base = r.get("FdasBasePrc")
        if base is not None and Decimal(base) > 0:
            return Decimal(base)
    return None


_STOCKS = ("kospi", "kosdaq")
_NEEDS_TABLE = ("etf", "etn", "spac", "spreads", "products", "expiries", "strikes")
_DEFAULTS = MarketConfig()
_OVERSEAS = ("ofutures", "ooptions")


def _filter(
    market: str,
    mc: MarketConfig,
    rows: list[dict[str, Any]],
    explicit: set[str],
    masters: Mapping[str, Master],
    notes: list[str],
    problems: list[str],
) -> list[dict[str, Any]]:
    def narrow(rows: list[dict[str, Any]], keep: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
        kept = {id(r) for r in keep}
        out = [r for r in rows if id(r) in kept or r["symbol"] in explicit]
        if len(out) < len(rows):
            notes.append(f"{market}: {len(rows) - len(out):,} {what}")
        return out

    if not isinstance(masters.get(market), pa.Table):
        # Codes alone say nothing about ETFs, spreads, products, expiries or strikes.
        active = [name for name in _NEEDS_TABLE if getattr(mc, name) != getattr(_DEFAULTS, name)]
        if active:
            problems.append(
                f"markets.{market}.{active[0]}: needs the {market} master table, not just its codes"
            )
        return rows
    if market in _STOCKS:
        if not mc.etf:
            rows = narrow(rows, [r for r in rows if not r.get("is_etf")], "ETFs excluded (etf = false)")
        if not mc.etn:
            rows = narrow(rows, [r for r in rows if not r.get("is_etn")], "ETNs excluded (etn = false)")
        if not mc.spac:
            rows = narrow(
                rows, [r for r in rows if r.get("spac_gubun") != "Y"], "SPACs excluded (spac = false)"
            )
    if market == "kfutures" and not mc.spreads:
        rows = narrow(
            rows,
            [r for r in rows if not _is_spread(r)],
            "calendar spreads excluded (spreads = false)",
        )
    if market in _OVERSEAS and mc.products is not None:
        wanted = {p.removeprefix("O_") for p in mc.products}
        listed = {_product(r) for r in rows}
        unknown = sorted(wanted - listed)
        if unknown:
            problems.append(
                f"markets.{market}.products: {unknown} match no series in today's {market} master"
                f" (it lists {', '.join(sorted(listed)[:20])}{' …' if len(listed) > 20 else ''})"
            )
        chosen = [r for r in rows if _product(r) in wanted]
        rows = narrow(rows, chosen, f"series of other products excluded (products = {sorted(wanted)})")
    overseas = market in _OVERSEAS
    expiry_of = _expiry_overseas if overseas else _expiry_krx
    if mc.expiries is not None and market in ("kfutures", "koptions", *_OVERSEAS):
        near = _near(rows, mc.expiries, expiry_of)
        rows = narrow(rows, near, f"series beyond the nearest {mc.expiries} expiries excluded")
    if mc.strikes is not None and market in ("koptions", "ooptions"):
        # At-the-money per expiry (and per product, overseas).
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault((_product(r), expiry_of(r)), []).append(r)
        kept: list[dict[str, Any]] = []
        unknown_atm: list[str] = []
        for (product, expiry), group in sorted(groups.items()):
            atm = _overseas_atm(group) if overseas else _krx_option_atm(group, masters.get("kfutures"))
            if atm is None:
                unknown_atm.append(f"{product} {expiry}".strip())
                kept += group
            else:
                kept += _around(group, mc.strikes, _strike_overseas if overseas else _strike_krx, atm)
        rows = narrow(rows, kept, f"strikes more than {mc.strikes} steps from at-the-money excluded")
        if unknown_atm:
            notes.append(
                f"{market}: at-the-money unknown (no prices in the master) for {', '.join(unknown_atm)};"
                " every strike of those kept"
            )
    return rows


def select_with_notes(cfg: Config, masters: Mapping[str, Master]) -> Selection:
    """Every registration the config asks for, in a stable order, with what the filters removed.

    ``masters`` maps each configured market to its master table (or just its codes); pass the
    kfutures table too when koptions has ``strikes``, for at-the-money. Raises ConfigError naming
    every market whose list names codes (or ``products``) the master lacks.
    """
    out = Selection()
    problems: list[str] = []
    for market, mc in cfg.markets.items():
        rows, explicit = _listed(market, mc, _rows(masters.get(market, ())), problems)
        rows = _filter(market, mc, rows, explicit, masters, out.notes, problems)
        symbols = list(dict.fromkeys(r["symbol"] for r in rows))
        if mc.max_symbols is not None and len(symbols) > mc.max_symbols:
            out.notes.append(
                f"{market}: {len(symbols) - mc.max_symbols:,} codes beyond"
                f" max_symbols = {mc.max_symbols} excluded"
            )
            symbols = symbols[: mc.max_symbols]
        if "day" in mc.sessions:
            _add_channels(cfg, market, symbols, out)
        if "night" in mc.sessions:
            out.registrations.extend(_night(cfg, market, symbols, masters, out.notes, problems))
    if problems:
        raise ConfigError("; ".join(problems))
    return out


def night_master_key(market: str) -> str:
    """The ``masters`` key (and stored master name) of a market's night-session instruments (t8455)."""
    return f"{market}.night"


def _night(
    cfg: Config,
    market: str,
    symbols: list[str],
    masters: Mapping[str, Master],
    notes: list[str],
    problems: list[str],
) -> list[Registration]:
    """The night session's registrations (DH0/DC0): the day selection's codes that t8455 lists, so
    every filter and ``max_symbols`` applies at night as by day."""
    key = night_master_key(market)
    if key not in masters:
        problems.append(f"markets.{market}.sessions: the night session needs the t8455 master ({key})")
        return []
    listed = {r["symbol"] for r in _rows(masters[key])}
    night = [s for s in symbols if s in listed]
    if len(night) < len(symbols):
        left = len(symbols) - len(night)
        notes.append(f"{market}: {left:,} selected codes do not trade at night (not in t8455)")
    channels = [c for c in cfg.channels_of(market) if c in NIGHT_CHANNELS[market]]
    other = [c for c in cfg.channels_of(market) if c not in NIGHT_CHANNELS[market] and c != "status"]
    if other:
        notes.append(f"{market}: the night session has no {', '.join(other)} feed; not recorded at night")
    return [Registration(market, c, NIGHT_CHANNELS[market][c], s) for c in channels for s in night]


MARKET_STATUS = Registration("all", "status", "JIF", "0")
"""JIF (tr_key ``0``): one registration serves every market (``plan.pack.MARKET_STATUS`` too)."""


def _add_channels(cfg: Config, market: str, symbols: list[str], out: Selection) -> None:
    """The registrations of a market's channels on each of its venues, per symbol. ``vi`` is one
    registration per venue for every stock (``000000``), shared by KOSPI and KOSDAQ; ``status``
    is JIF, one for all markets. A channel a venue does not serve is left out with a note."""
    for venue in cfg.venues_of(market):
        table = VENUE_CHANNELS[market][venue]
        for channel in cfg.channels_of(market):
            tr_cd = table.get(channel)
            if channel == "status":  # JIF: one feed for every market and venue
                if MARKET_STATUS not in out.registrations:
                    out.registrations.append(MARKET_STATUS)
            elif tr_cd is None:
                out.notes.append(f"{market}: {venue} has no {channel} feed; not recorded there")
            elif channel == "vi":
                if not any(r.tr_cd == tr_cd and r.symbol == ALL_SYMBOLS for r in out.registrations):
                    out.registrations.append(Registration(market, channel, tr_cd, ALL_SYMBOLS))
            else:
                out.registrations.extend(Registration(market, channel, tr_cd, s) for s in symbols)


def select(cfg: Config, masters: Mapping[str, Master]) -> list[Registration]:
    """The registrations of ``select_with_notes``."""
    return select_with_notes(cfg, masters).registrations


def chunk(registrations: Sequence[Registration], per_connection: int) -> list[list[Registration]]:
    """Split registrations into connections of at most ``per_connection`` each, balanced."""
    if per_connection < 1:
        raise ValueError("per_connection must be at least 1")
    n = max(1, -(-len(registrations) // per_connection))
    return [list(registrations[i::n]) for i in range(n)] if registrations else []
