"""The TOML configuration, decoded into frozen structs and validated before any connection.

The file says what to capture and where to write it. Secrets never live in it: app
keys and secrets come from the environment (``GATHERER_LS_APPKEY`` /
``GATHERER_LS_APPSECRET``; see ``venues.ls.auth``). Every problem is reported with
its path (``markets.kospi.channels``), the value found and what was expected, all
problems at once where practical.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import msgspec

from gatherer.errors import ConfigError
from gatherer.venues.ls.catalog import MARKET_CHANNELS
from gatherer.venues.ls.channels import STOCK_VENUES, VENUE_CHANNELS, market_channels

MARKETS: tuple[str, ...] = tuple(MARKET_CHANNELS)

LS_REST_URL = "https://openapi.ls-sec.co.kr:8080"
LS_WS_URL = "wss://openapi.ls-sec.co.kr:9443/websocket"


class VenueConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where the venue is: LS's real servers by default, or a simulator/replay on loopback."""

    rest_url: str = LS_REST_URL
    """REST base URL, no trailing slash."""
    ws_url: str = LS_WS_URL
    """WebSocket URL (LS serves everything on one ``/websocket`` endpoint)."""
    connections_per_key: int = 3
    """WebSocket connections one app key may open. LS publishes no number (LS_OPENAPI.md §2.7)."""
    registrations_per_connection: int = 200
    """(TR, symbol) registrations per connection; LS publishes no number, 200 is a common choice."""
    registrations_per_s: float = 20.0
    """Registration requests per second per app key (LS counts them across TRs since 2025-03-17)."""
    stall_timeout_s: float = 60.0
    """Silence while one of its markets trades after which a connection is reconnected (never when closed)."""
    rest_rate_scale: float = 1.0
    """Multiplies LS's per-TR REST limits (personal accounts, LS_OPENAPI.md §1.4); corporate go higher."""
    reconnect_stagger_s: float = 0.2
    """Spacing of one app key's connection attempts, so a venue restart does not bring all back at once."""


class StorageConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    root: str = "./data"
    """Directory that holds journal/, parquet/, masters/, quarantine/ and state/."""
    parquet_flush_s: float = 300.0
    """Seconds between Parquet checkpoints of the live store (files become readable then; a restart
    re-decodes at most this much from the journal)."""
    journal_keep_days: int | None = None
    """Remove journal days older than this many days once their Parquet is verified; None keeps all."""


class MarketConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    symbols: str | list[str] = "all"
    """"all", or a list of venue codes (005930, A0166000, ESZ26) and fnmatch patterns ("A016*")."""
    channels: list[str] | None = None
    """Which feeds to record: ``book``, ``trade``, ``broker`` (stocks), ``vi`` (stocks: volatility
    interruptions, one registration per venue for every stock), ``auction`` (expected prices in the
    call auctions), ``status`` (JIF market status); default: book, trade and broker where the market
    has them (README, "Venues and channels")."""
    venues: list[str] | None = None
    """Stocks: where to record each channel: ``krx``, ``nxt`` (Nextrade), ``unified`` (the KRX+NXT
    consolidated feed), any subset; default ``["krx"]`` (README: why, and what each venue costs)."""
    cutoff: str = "07:30"
    """Trading-day cutoff, HH:MM Asia/Seoul: receive times before it belong to the previous day."""
    max_symbols: int | None = None
    """Take at most this many codes, in master order (for trials and demos)."""
    symbols_file: str | None = None
    """A file of codes (one per line, ``#`` comments; relative to the config file), e.g. the
    KOSPI200 constituents: the LS masters (t8436) do not flag index membership, so such lists
    come from outside. Read when the config is loaded, into ``symbols``: with ``symbols`` left
    at "all" the file alone names the codes; with a list, the two are joined. Codes the master
    lacks are errors."""
    etf: bool = True
    """Stocks: include ETFs (t8436 etfgubun 1)."""
    etn: bool = True
    """Stocks: include ETNs (t8436 etfgubun 2)."""
    spac: bool = True
    """Stocks: include SPACs (t8436 spac_gubun Y)."""
    spreads: bool = True
    """KOSPI200 futures: include calendar spreads ("F SP …"), listed instruments with their own book
    and trades; ``false`` leaves them out. A spread named exactly in ``symbols`` is recorded either way."""
    expiries: int | None = None
    """Derivatives: only the nearest N expiries listed in the master (per product, overseas); the
    expiry is read from ``hname`` ("F 2606") for KRX and ``LstngYr``/``LstngM`` overseas."""
    strikes: int | None = None
    """Options: only strikes within N listed strike steps of at-the-money, each side (2N + 1
    strikes, calls and puts, per expiry). At-the-money: koptions the front KOSPI200 future's
    previous close (when kfutures is configured too), else the strike where call and put
    previous closes are closest; ooptions the underlying's reference price ``FdasBasePrc``."""
    products: list[str] | None = None
    """Overseas futures/options: only these products ("ES", "NQ", "CL"; "O_ES" also accepted)."""

    def cutoff_time(self) -> dt.time:
        hh, mm = self.cutoff.split(":")
        return dt.time(int(hh), int(mm))


class BackfillConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    """Fetch the prints a cumulative-volume gap says are missing over REST (t1301/t8454/t2212/o3116/o3136)."""
    interval_s: float = 60.0
    """How often the supervisor looks for new gaps to backfill."""
    max_pages: int = 200
    """Continuation pages one gap may take before it is left partly filled."""


class RunConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    workers: int | None = None
    """Worker processes; default one per core."""


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    run: RunConfig = msgspec.field(default_factory=RunConfig)
    venue: VenueConfig = msgspec.field(default_factory=VenueConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    backfill: BackfillConfig = msgspec.field(default_factory=BackfillConfig)
    markets: dict[str, MarketConfig] = msgspec.field(default_factory=dict)

    def channels_of(self, market: str) -> list[str]:
        chosen = self.markets[market].channels
        return list(chosen) if chosen is not None else list(MARKET_CHANNELS[market])

    def venues_of(self, market: str) -> list[str]:
        """The venues a market is recorded on: the configured ones (stocks), else its only one."""
        chosen = self.markets[market].venues
        if chosen is not None:
            return list(chosen)
        return ["krx"] if market in _STOCK_MARKETS else list(VENUE_CHANNELS[market])


_PATH = re.compile(r"at `\$\.?(.*)`")
_CUTOFF = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_URL = re.compile(r"^(https?|wss?)://[^\s/]+")


def _path_of(message: str) -> tuple[str, str]:
    """Split msgspec's "... - at `$.a.b`" into ("a.b", "...")."""
    m = _PATH.search(message)
    if not m:
        return "", message
    path = m.group(1).replace("[", ".").replace("]", "").replace("'", "").replace('"', "")
    return path, message[: m.start()].rstrip(" -")


_FILTERS_OF: dict[str, tuple[str, ...]] = {
    "etf": ("kospi", "kosdaq"),
    "etn": ("kospi", "kosdaq"),
    "spac": ("kospi", "kosdaq"),
    "spreads": ("kfutures",),
    "expiries": ("kfutures", "koptions", "ofutures", "ooptions"),
    "strikes": ("koptions", "ooptions"),
    "products": ("ofutures", "ooptions"),
}
_DEFAULTS = MarketConfig()
_STOCK_MARKETS = ("kospi", "kosdaq")


def _venue_problems(market: str, mc: MarketConfig) -> list[str]:
    if mc.venues is None:
        return []
    where = f"markets.{market}.venues"
    if market not in _STOCK_MARKETS:
        return [f"{where}: applies only to kospi, kosdaq (the other markets have one venue)"]
    if not mc.venues:
        return [f'{where}: empty; leave it out for ["krx"] or name some of {", ".join(STOCK_VENUES)}']
    problems = []
    unknown = [v for v in mc.venues if v not in STOCK_VENUES]
    if unknown:
        problems.append(f"{where}: {unknown!r} unknown; expected some of {', '.join(STOCK_VENUES)}")
    if len(set(mc.venues)) < len(mc.venues):
        problems.append(f"{where}: {mc.venues!r} names a venue twice")
    if not problems and mc.channels:
        tables = VENUE_CHANNELS[market]
        for channel in mc.channels:
            if channel in market_channels(market) and not any(channel in tables[v] for v in mc.venues):
                serving = [v for v in STOCK_VENUES if channel in tables[v]]
                problems.append(
                    f"markets.{market}.channels: {channel!r} is served by none of venues {mc.venues!r};"
                    f" add {' or '.join(repr(v) for v in serving)} to venues, or leave the channel out"
                )
    return problems


def _filter_problems(market: str, mc: MarketConfig) -> list[str]:
    problems = []
    for name, markets in _FILTERS_OF.items():
        if getattr(mc, name) != getattr(_DEFAULTS, name) and market not in markets:
            problems.append(f"markets.{market}.{name}: applies only to {', '.join(markets)}")
    for name, least in (("expiries", 1), ("strikes", 0)):
        value = getattr(mc, name)
        if value is not None and value < least:
            problems.append(
                f"markets.{market}.{name}: {value!r}; expected a whole number of at least {least}"
            )
    if mc.products is not None and not mc.products:
        problems.append(f"markets.{market}.products: empty; leave it out to take every product")
    if mc.products and any(not p or p != p.strip() for p in mc.products):
        problems.append(f'markets.{market}.products: {mc.products!r}; expected codes such as "ES" or "O_ES"')
    return problems


def _validate(cfg: Config) -> list[str]:
    problems: list[str] = []
    for name, url, schemes in (
        ("venue.rest_url", cfg.venue.rest_url, ("http", "https")),
        ("venue.ws_url", cfg.venue.ws_url, ("ws", "wss")),
    ):
        if not _URL.match(url) or url.split("://")[0] not in schemes:
            problems.append(f"{name}: {url!r} is not a {' or '.join(schemes)} URL")
    for name, value in (
        ("venue.connections_per_key", cfg.venue.connections_per_key),
        ("venue.registrations_per_connection", cfg.venue.registrations_per_connection),
        ("venue.registrations_per_s", cfg.venue.registrations_per_s),
        ("venue.rest_rate_scale", cfg.venue.rest_rate_scale),
        ("venue.stall_timeout_s", cfg.venue.stall_timeout_s),
        ("venue.reconnect_stagger_s", cfg.venue.reconnect_stagger_s),
        ("storage.parquet_flush_s", cfg.storage.parquet_flush_s),
        ("backfill.interval_s", cfg.backfill.interval_s),
        ("backfill.max_pages", cfg.backfill.max_pages),
    ):
        if value <= 0:
            problems.append(f"{name}: {value!r}; expected a number above 0")
    if cfg.storage.journal_keep_days is not None and cfg.storage.journal_keep_days < 1:
        problems.append(
            f"storage.journal_keep_days: {cfg.storage.journal_keep_days!r};"
            " expected at least 1 (or leave it out to keep every day)"
        )
    if cfg.run.workers is not None and cfg.run.workers < 1:
        problems.append(f"run.workers: {cfg.run.workers!r}; expected at least 1")
    for market, mc in cfg.markets.items():
        problems.extend(_filter_problems(market, mc))
        problems.extend(_venue_problems(market, mc))
        if mc.max_symbols is not None and mc.max_symbols < 1:
            problems.append(f"markets.{market}.max_symbols: {mc.max_symbols!r}; expected at least 1")
        if market not in MARKET_CHANNELS:
            problems.append(f"markets.{market}: unknown market; expected one of {', '.join(MARKETS)}")
            continue
        if isinstance(mc.symbols, str) and mc.symbols != "all":
            problems.append(f'markets.{market}.symbols: {mc.symbols!r}; expected "all" or a list of codes')
        if isinstance(mc.symbols, list):
            if not mc.symbols:
                problems.append(f"markets.{market}.symbols: the list is empty; leave the market out instead")
            bad = [s for s in mc.symbols if not s or s != s.strip()]
            if bad:
                problems.append(f"markets.{market}.symbols: {bad!r} are not codes (blank or padded)")
        if mc.channels is not None:
            known = market_channels(market)
            unknown = [c for c in mc.channels if c not in known]
            if unknown:
                problems.append(
                    f"markets.{market}.channels: {unknown!r} not available;"
                    f" expected some of {', '.join(known)}"
                )
            if not mc.channels:
                problems.append(f"markets.{market}.channels: empty; leave the market out instead")
        if not _CUTOFF.match(mc.cutoff):
            problems.append(f'markets.{market}.cutoff: {mc.cutoff!r}; expected HH:MM such as "07:30"')
    return problems


def _convert(raw: Any, typ: type[Any], prefix: str, problems: list[str]) -> Any:
    try:
        return msgspec.convert(raw, typ)
    except msgspec.ValidationError as exc:
        path, what = _path_of(str(exc))
        where = ".".join(p for p in (prefix, path) if p)
        problems.append(f"{where or 'top level'}: {what}")
        return None


def _relative_to(cfg: Config, base: Path) -> Config:
    """Paths in the file (symbols_file) are relative to the file's directory."""
    markets = {
        m: msgspec.structs.replace(mc, symbols_file=str(base / mc.symbols_file))
        if mc.symbols_file is not None and not Path(mc.symbols_file).is_absolute()
        else mc
        for m, mc in cfg.markets.items()
    }
    replaced: Config = msgspec.structs.replace(cfg, markets=markets)
    return replaced


def read_symbols_file(path: str | Path) -> list[str]:
    """The codes of a symbols file: one per line; ``#`` starts a comment; blank lines skipped."""
    text = Path(path).read_text(encoding="utf-8")
    codes = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return list(dict.fromkeys(c for c in codes if c))


def _with_file_codes(cfg: Config, problems: list[str]) -> Config:
    """Read each ``symbols_file`` into ``symbols`` (alone when symbols is "all", else joined), so that
    planning works on values. The file is read once, when the config is loaded."""
    markets = dict(cfg.markets)
    for market, mc in cfg.markets.items():
        if mc.symbols_file is None:
            continue
        where = f"markets.{market}.symbols_file"
        try:
            codes = read_symbols_file(mc.symbols_file)
        except FileNotFoundError:
            problems.append(f"{where}: {mc.symbols_file!r} does not exist")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: {mc.symbols_file!r} is not a readable UTF-8 file ({exc})")
            continue
        if not codes:
            problems.append(f"{where}: {mc.symbols_file!r} holds no codes (one per line, # comments)")
            continue
        listed = [] if mc.symbols == "all" or isinstance(mc.symbols, str) else list(mc.symbols)
        markets[market] = msgspec.structs.replace(mc, symbols=list(dict.fromkeys(listed + codes)))
    replaced: Config = msgspec.structs.replace(cfg, markets=markets)
    return replaced


def parse_config(text: str | bytes, source: str = "<config>", base: Path | None = None) -> Config:
    """Decode and validate; raises ConfigError listing every problem found.

    ``base`` is the directory relative paths in the file are taken from (the file's own).
    """
    try:
        raw = msgspec.toml.decode(text)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    problems: list[str] = []
    # Markets are converted one by one so that a problem names its market: msgspec's
    # own paths do not show dictionary keys.
    markets_raw = raw.pop("markets", {})
    if not isinstance(markets_raw, dict):
        problems.append("markets: expected tables such as [markets.kospi]")
        markets_raw = {}
    markets = {
        name: _convert(m, MarketConfig, f"markets.{name}", problems) for name, m in markets_raw.items()
    }
    base_cfg = _convert(raw, Config, "", problems)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    cfg: Config = msgspec.structs.replace(base_cfg, markets=markets)
    if base is not None:
        cfg = _relative_to(cfg, base)
    problems = []
    cfg = _with_file_codes(cfg, problems)
    problems += _validate(cfg)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return cfg


def load_config(path: str | Path) -> Config:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"config file {p} does not exist; pass --config with the path of your TOML file"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from exc
    return parse_config(data, str(p), p.parent)


def effective(cfg: Config) -> dict[str, Any]:
    """The configuration with defaults filled in, for ``gatherer config check``."""
    out: dict[str, Any] = msgspec.to_builtins(cfg)
    for market in cfg.markets:
        out["markets"][market]["channels"] = cfg.channels_of(market)
        if market in _STOCK_MARKETS:
            out["markets"][market]["venues"] = cfg.venues_of(market)
    return out
