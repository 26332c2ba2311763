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

from gatherer.clock import DEFAULT_CUTOFF, EXCHANGE_CUTOFFS
from gatherer.errors import ConfigError
from gatherer.venues.ls.catalog import MARKET_CHANNELS, NIGHT_CHANNELS, SESSIONS
from gatherer.venues.ls.channels import STOCK_VENUES, VENUE_CHANNELS, market_channels

MARKETS: tuple[str, ...] = tuple(MARKET_CHANNELS)
PRIORITIES: tuple[str, ...] = ("liquidity", "code")

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
    limits_file: str | None = None
    """Limits measured by `gatherer probe-limits` (JSON), used for the three limits above that the
    config leaves at their defaults; default ``<storage.root>/state/venue-limits.json`` when it exists."""


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
    cutoff: str | None = None
    """A fixed trading-day cutoff, HH:MM Asia/Seoul: receive times before it belong to the previous
    day. Default: the exchange's own trading date — KRX markets the KST calendar date of the session
    (the night session the next KRX session date), overseas markets 07:30 (clock.EXCHANGE_CUTOFFS)."""
    sessions: list[str] = msgspec.field(default_factory=lambda: ["day"])
    """KRX derivatives (kfutures, koptions): ``["day"]``, ``["night"]`` or ``["day", "night"]``. The
    night session (18:00–06:00 KST, DH0/DC0, instruments from master t8455) is off by default: it
    doubles the market's registrations for thinner trading; rows carry ``session = "night"``."""
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

    def cutoff_time(self, market: str | None = None) -> dt.time:
        """The configured cutoff, else the market's exchange rule (07:30 without a market)."""
        if self.cutoff is None:
            return EXCHANGE_CUTOFFS.get(market or "", DEFAULT_CUTOFF)
        hh, mm = self.cutoff.split(":")
        return dt.time(int(hh), int(mm))


class BackfillConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    """Fetch the prints a cumulative-volume gap says are missing over REST (t1301/t8454/t2212/o3116/o3136)."""
    interval_s: float = 60.0
    """How often the supervisor looks for new gaps to backfill."""
    max_pages: int = 200
    """Continuation pages one gap may take before it is left partly filled."""


class ScheduleConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False
    """Run every trading day by itself (as ``gatherer run --schedule``): wait through nights,
    weekends and holidays, record each day's sessions, then score, seal and report the day."""
    lead_min: float = 10.0
    """Start this many minutes before the first configured market opens."""
    grace_min: float = 30.0
    """Stop this many minutes after the last configured market closes."""
    seal: bool = True
    """After each day: write its quality file, seal it (manifest, read-only files) and write
    ``reports/date=D.html``."""


class RunConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    workers: int | None = None
    """Worker processes; default one per core."""
    shard: str | None = None
    """"K/N": record only shard K of N of the selected universe (``gatherer run --shard``; see
    ``gatherer plan --shards N`` and docs/scale-out.md); None records all of it."""


class BusConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """NATS JetStream: each worker's journal published onwards (docs/scale-out.md). Credentials come
    from the environment only: ``GATHERER_BUS_TOKEN``, or ``GATHERER_BUS_USER`` and
    ``GATHERER_BUS_PASSWORD``, or ``GATHERER_BUS_CREDS`` (the path of a NATS credentials file)."""

    url: str
    """Server URL(s), comma-separated: "nats://127.0.0.1:4222" or every node of a cluster."""
    stream: str = "GATHERER"
    """The JetStream stream; created at start if missing, else checked."""
    subject_prefix: str = "gatherer"
    """Subjects are ``<prefix>.<collector>.<worker>`` (one ordered subject per journal)."""
    collector: str = ""
    """This collector's id in subjects and message ids (letters, digits, ``_``); default: the host name."""
    replicas: int = 1
    """Stream replicas (1, or 3 on a 3-node cluster)."""
    max_bytes: int = 4 * 1024**3
    """The stream's size limit in bytes (oldest messages go first beyond it); the server must have
    this much room (its ``max_file_store``), or it refuses to create the stream."""
    max_age_s: float = 7 * 86400.0
    """Messages older than this leave the stream."""
    duplicate_window_s: float = 600.0
    """The server drops a message whose ``Nats-Msg-Id`` it saw within this window."""
    batch_frames: int = 50
    """Journal records per NATS message (at most; a message also stays under ``batch_bytes``)."""
    batch_bytes: int = 512 * 1024
    """Bytes of records per NATS message at most (the server's default max_payload is 1 MiB)."""
    max_inflight: int = 256
    """Messages published and not yet acknowledged by the server, at most."""
    ack_timeout_s: float = 10.0
    """A message not acknowledged in this time is published again (same id) after a reconnect."""
    drain_s: float = 30.0
    """At the stop, how long the publisher goes on publishing the journal's tail before it exits;
    what is left is published by the next run (its checkpoint is on disk)."""


class PlanConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    priority: str = "liquidity"
    """What to leave out when the selection does not fit the app keys: ``"liquidity"`` keeps each
    market's most traded codes by yesterday's traded value (t8407, stocks; other markets by code) and
    records the rest of the plan; ``"code"`` refuses to run, leaving out the last in code order."""


class StatusConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    listen: str | None = None
    """host:port where the supervisor serves the status page, /metrics and /healthz, e.g.
    "127.0.0.1:9108" (port 0: any free port, written to state/status.json); None: not served. An
    address other than loopback needs GATHERER_STATUS_TOKEN in the environment (a bearer token)."""


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    bus: BusConfig | None = None
    """Publish the journal to NATS JetStream (docs/scale-out.md); absent: no bus."""
    run: RunConfig = msgspec.field(default_factory=RunConfig)
    plan: PlanConfig = msgspec.field(default_factory=PlanConfig)
    status: StatusConfig = msgspec.field(default_factory=StatusConfig)
    venue: VenueConfig = msgspec.field(default_factory=VenueConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    backfill: BackfillConfig = msgspec.field(default_factory=BackfillConfig)
    schedule: ScheduleConfig = msgspec.field(default_factory=ScheduleConfig)
    markets: dict[str, MarketConfig] = msgspec.field(default_factory=dict)

    def cutoffs(self) -> dict[str, dt.time]:
        """Market -> its configured ``cutoff`` (markets without one follow their exchange's rule)."""
        return {m: mc.cutoff_time() for m, mc in self.markets.items() if mc.cutoff is not None}

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
_LISTEN = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


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


def _session_problems(market: str, mc: MarketConfig) -> list[str]:
    if mc.sessions == ["day"]:
        return []
    where = f"markets.{market}.sessions"
    if market not in NIGHT_CHANNELS:
        return [f'{where}: {mc.sessions!r}; only {", ".join(NIGHT_CHANNELS)} have a night session']
    bad = [s for s in mc.sessions if s not in SESSIONS]
    if bad or not mc.sessions or len(set(mc.sessions)) < len(mc.sessions):
        return [f'{where}: {mc.sessions!r}; expected "day", "night" or both, each once']
    return []


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
    if cfg.plan.priority not in PRIORITIES:
        problems.append(f"plan.priority: {cfg.plan.priority!r}; expected one of {', '.join(PRIORITIES)}")
    if cfg.bus is not None:
        problems.extend(bus_problems(cfg.bus))
    if cfg.run.shard is not None:
        m = re.match(r"^(\d+)/(\d+)$", cfg.run.shard)
        if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
            problems.append(f"run.shard: {cfg.run.shard!r}; expected K/N such as 2/3, 1 <= K <= N")
    listen = _LISTEN.match(cfg.status.listen or "")
    if cfg.status.listen is not None and (listen is None or int(listen.group(2)) > 65535):
        problems.append(
            f'status.listen: {cfg.status.listen!r}; expected host:port such as "127.0.0.1:9108"'
        )
    for name, minutes in (
        ("schedule.lead_min", cfg.schedule.lead_min),
        ("schedule.grace_min", cfg.schedule.grace_min),
    ):
        if not 0 <= minutes <= 24 * 60:
            problems.append(f"{name}: {minutes!r}; expected minutes from 0 to 1440")
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
        problems.extend(_session_problems(market, mc))
        if mc.cutoff is not None and not _CUTOFF.match(mc.cutoff):
            problems.append(f'markets.{market}.cutoff: {mc.cutoff!r}; expected HH:MM such as "07:30"')
    return problems


_NATS_URL = re.compile(r"^(nats|tls)://[^\s/,]+$")
_TOKEN = re.compile(r"^[A-Za-z0-9_]+$")
_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


def bus_problems(bus: BusConfig) -> list[str]:
    """What is wrong with a ``[bus]`` table, each naming the key and what to write instead."""
    problems = [
        f"bus.url: {u!r} is not a nats:// or tls:// URL such as nats://127.0.0.1:4222"
        for u in bus.url.split(",")
        if not _NATS_URL.match(u.strip())
    ]
    if not _TOKEN.match(bus.stream):
        problems.append(f"bus.stream: {bus.stream!r}; expected letters, digits and _")
    if bus.collector and not _TOKEN.match(bus.collector):
        problems.append(f"bus.collector: {bus.collector!r}; expected letters, digits and _")
    if not _SUBJECT.match(bus.subject_prefix):
        problems.append(f"bus.subject_prefix: {bus.subject_prefix!r}; expected tokens like desk.a")
    if bus.replicas not in (1, 3, 5):
        problems.append(f"bus.replicas: {bus.replicas!r}; expected 1, 3 or 5")
    for name in ("max_bytes", "max_age_s", "duplicate_window_s", "batch_frames", "batch_bytes",
                 "max_inflight", "ack_timeout_s", "drain_s"):  # fmt: skip
        if getattr(bus, name) <= 0:
            problems.append(f"bus.{name}: {getattr(bus, name)!r}; expected a number above 0")
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
