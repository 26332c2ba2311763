"""``gatherer sessions``: when each configured market (and overseas product group) trades on a date.

The hours are the ones the collector's stall watchdog and the simulator use
(``venues.ls.hours``), shown in Asia/Seoul time and clipped to that Seoul date, so a window across
midnight shows on both dates and the CME daily break is a hole between two windows. Continuous
trading only: the auctions before and after are not counted (KRX's JIF feed corrects the rest
while recording).

Overseas products map to exchanges, and so to hours, without the network: by the day's stored
master when there is one (``storage.root/masters/date=D/<market>.parquet``, else the newest one
before D; ``ExchCd`` of each ``BscGdsCd``), else by the table of products the project knows
(``hours.KNOWN_PRODUCTS``). With a config, its markets and its ``products`` lists decide what is
shown; without, all six markets and every known product. Never writes anything.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from gatherer.clock import SEOUL, to_seoul
from gatherer.config import MARKETS, Config, load_config
from gatherer.errors import GathererError
from gatherer.venues.ls.catalog import NIGHT_CHANNELS
from gatherer.venues.ls.hours import (
    KNOWN_PRODUCTS,
    KRX_MARKETS,
    day_windows,
    exchange_group,
    product_market,
    seoul_text,
    session_windows,
)
from gatherer.venues.ls.night import NIGHT, held, night_date, night_sessions

_GROUP_NAMES = {
    "CME": "CME Group (CME, CBOT, NYMEX, COMEX)",
    "HKEX": "HKEX",
    "SGX": "SGX",
    "EUREX": "Eurex",
    "OSE": "Osaka (JPX)",
}


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One continuous-trading window on the date, Seoul time."""

    market: str
    product: str | None
    """The overseas product (BscGdsCd); None for a whole KRX market."""
    group: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class SessionsReport:
    day: dt.date
    rows: list[SessionRow]
    groups: dict[tuple[str, str | None], str]
    """(market, product) -> session group, for every market and product shown (trading or not)."""
    notes: list[str]


def parse_day(text: str, now_ns: int) -> dt.date:
    """``YYYY-MM-DD``, ``today`` or ``yesterday`` (Seoul dates, by the clock's ``now_ns``)."""
    today = to_seoul(now_ns).date()
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "yesterday":
        return today - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise GathererError(f"--date {text!r}: expected YYYY-MM-DD, today or yesterday") from exc


def sessions_report(day: dt.date, cfg: Config | None) -> SessionsReport:
    """The windows of the date for the config's markets (all six without a config). Seconds of CPU
    on first use (the exchange calendars): call it in a thread."""
    markets = [m for m in MARKETS if cfg is None or m in cfg.markets]
    notes: list[str] = []
    groups: dict[tuple[str, str | None], str] = {}
    for market in markets:
        if market in KRX_MARKETS:
            groups[(market, None)] = market
            extra = _krx_extra(cfg, market)
            if extra is not None:
                groups[(market, extra)] = "knight" if extra == NIGHT else "nxt"
            continue
        exchanges, source = _products(cfg, market, day)
        notes.append(f"{market}: products and exchanges from {source}")
        for product, exch in sorted(exchanges.items()):
            group, known = exchange_group(exch)
            if not known:
                notes.append(f"{market} {product}: no hours known for exchange {exch!r}; shown with CME's")
            groups[(market, product)] = group
    windows = session_windows(day, day, sorted(set(groups.values())))
    rows = [
        SessionRow(market, product, group, start, end)
        for (market, product), group in groups.items()
        for start, end in day_windows(windows, group, day)
    ]
    return SessionsReport(day, rows, groups, notes)


def _krx_extra(cfg: Config | None, market: str) -> str | None:
    """The other KRX hours a market shows: its night session (configured, or without a config any
    market that has one), or NXT's for stocks."""
    if market in ("kospi", "kosdaq"):
        return "nxt"
    if market in NIGHT_CHANNELS and (cfg is None or NIGHT in cfg.markets[market].sessions):
        return NIGHT
    return None


def _products(cfg: Config | None, market: str, day: dt.date) -> tuple[dict[str, str], str]:
    """Product -> ExchCd for an overseas market, and where that came from."""
    known = {p: e for p, e in KNOWN_PRODUCTS.items() if product_market(p) == market}
    stored, path = ({}, None) if cfg is None else _from_master(Path(cfg.storage.root), market, day)
    table = stored or known
    source = f"the stored master {path}" if stored else "the products the project knows"
    wanted = cfg.markets[market].products if cfg is not None else None
    if wanted is None:
        return table, source
    out: dict[str, str] = {}
    for name in wanted:
        code = _product_code(name, market)
        exch = stored.get(code) or known.get(code)
        out[code] = exch if exch is not None else "?"
    return out, f"markets.{market}.products, exchanges from {source}"


def _product_code(name: str, market: str) -> str:
    """``products`` accepts "ES" and "O_ES" for either market (config.py): the market's spelling."""
    bare = name.removeprefix("O_")
    return f"O_{bare}" if market == "ooptions" else bare


def _from_master(root: Path, market: str, day: dt.date) -> tuple[dict[str, str], Path | None]:
    """BscGdsCd -> ExchCd from the master stored for ``day``, else the newest one before it."""
    masters = root / "masters"
    candidates = sorted(
        (p for p in masters.glob(f"date=*/{market}.parquet") if p.parent.name[5:] <= day.isoformat()),
        key=lambda p: p.parent.name,
    )
    if not candidates:
        return {}, None
    path = candidates[-1]
    table = pq.read_table(path, columns=["BscGdsCd", "ExchCd"])
    codes = table.column("BscGdsCd").to_pylist()
    exchanges = table.column("ExchCd").to_pylist()
    return {str(c).strip(): str(e or "").strip() for c, e in zip(codes, exchanges, strict=True) if c}, path


# -- output ------------------------------------------------------------------------------------


def render_json(report: SessionsReport) -> str:
    """A JSON list of {"market", "product", "start", "end"}, ISO 8601 at +09:00."""
    items = [
        {
            "market": r.market,
            "product": r.product,
            "start": seoul_text(r.start_ns),
            "end": seoul_text(r.end_ns),
        }
        for r in report.rows
    ]
    return json.dumps(items, ensure_ascii=False, indent=1)


def render_text(report: SessionsReport) -> str:
    day = report.day
    lines = [f"{day} ({day.strftime('%A')}): continuous trading, Asia/Seoul time (auctions not counted)"]
    by_key: dict[tuple[str, str | None], list[SessionRow]] = {}
    for r in report.rows:
        by_key.setdefault((r.market, r.product), []).append(r)
    # Products of one market and exchange trade alike: one line for them.
    lines_of: dict[tuple[str, str], list[str]] = {}
    spans_of: dict[tuple[str, str], str] = {}
    for (market, product), group in report.groups.items():
        spans = _spans(by_key.get((market, product), []), day)
        if product is None:
            lines.append(f"  {market:<9} {spans}")  # a KRX market
            continue
        if group == "nxt":
            lines.append(f"  {market:<9} {spans}   on NXT (Nextrade): pre-market, main market, after-market")
            continue
        if group == "knight":
            evening = (
                f"this evening's is dated {night_date(day)}"
                if held(day, night_sessions(day.year))
                else "none this evening"
            )
            lines.append(f"  {market:<9} {spans}   night session (DH0/DC0, 18:00–06:00): {evening}")
            continue
        key = (market, group)
        lines_of.setdefault(key, []).append(product)
        spans_of[key] = spans
    for (market, group), products in lines_of.items():
        name = _GROUP_NAMES.get(group, group)
        lines.append(f"  {market:<9} {spans_of[(market, group)]}   on {name}:")
        lines.append(f"  {'':<9} {' '.join(products)}")
    lines += [f"  note: {n}" for n in report.notes]
    return "\n".join(lines)


def _spans(rows: Sequence[SessionRow], day: dt.date) -> str:
    if not rows:
        return "closed"

    def hm(ns: int) -> str:
        local = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=SEOUL)
        return "24:00" if local.date() > day else local.strftime("%H:%M")

    return ", ".join(f"{hm(r.start_ns)}–{hm(r.end_ns)}" for r in rows)


def sessions_command(date_text: str, config: str | None, now_ns: int, *, as_json: bool) -> str:
    """What ``gatherer sessions`` prints."""
    cfg = load_config(config) if config else None
    report = sessions_report(parse_day(date_text, now_ns), cfg)
    return render_json(report) if as_json else render_text(report)
