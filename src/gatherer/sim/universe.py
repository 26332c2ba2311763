"""The simulator's instrument universe: every market's symbols at real sizes.

``Instrument`` is what the market model prices; ``build_universe`` makes the whole
universe deterministically from a seed and a date, and ``master_rows`` renders it the way
the venue's master TRs (t8436, t8467/t8432, t8433, o3101, o3121) return it.

The derivatives listed are those trading on the date (``as_of``, the simulator clock's Seoul
date; ``sim/listings.py`` has the calendars): 4 KOSPI200 futures and their 3 calendar
spreads, 11 KOSPI200 option months × 238 strikes × call/put (5,236 codes), 4 months of each of
18 overseas futures (72) and 4 months × 150 strikes × call/put of 14 overseas option
products (16,800). Stocks (2,401 KOSPI, 1,811 KOSDAQ) depend on the seed only.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from types import MappingProxyType

from gatherer.sim.listings import (
    MONTH_LETTERS,
    future_last_day,
    future_months,
    k200_future_months,
    k200_last_day,
    k200_option_months,
    option_expiry,
    option_months,
    underlying_month,
)
from gatherer.venues.ls.hours import exchange_group, master_hours

MARKETS: tuple[str, ...] = ("kospi", "kosdaq", "kfutures", "koptions", "ofutures", "ooptions")


def krx_stock_tick(price: Decimal) -> Decimal:
    """KRX stock tick size at a price (the grid in force since 2023-01-25)."""
    if price < 2_000:
        return Decimal(1)
    if price < 5_000:
        return Decimal(5)
    if price < 20_000:
        return Decimal(10)
    if price < 50_000:
        return Decimal(50)
    if price < 200_000:
        return Decimal(100)
    if price < 500_000:
        return Decimal(500)
    return Decimal(1_000)


def krx_option_tick(price: Decimal) -> Decimal:
    """KOSPI200 option premium tick: 0.01 below 10 points, 0.05 from 10."""
    return Decimal("0.01") if price < 10 else Decimal("0.05")


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable series as the simulator models it."""

    market: str
    """One of MARKETS."""
    symbol: str
    """The venue's code, unpadded: ``005930``, ``A0166000``, ``B0168872``, ``ESZ26``, ``2ESF27_5000``."""
    name: str
    ref_price: Decimal
    """Previous close, on the tick grid; the day's prices start here."""
    scale: int
    """Decimal places of prices on the wire: 0 for KRX stocks, 2 for KRX derivatives, DotGb overseas."""
    kind: str
    """``stock``, ``etf``, ``etn``, ``spac``, ``future``, ``spread``, ``call`` or ``put``."""
    tick: Decimal
    """Fixed tick size; ignored for KRX stocks, whose grid depends on the price."""
    product: str = ""
    """Derivative product (``K200``, ``ES``, ``O_ES``); empty for stocks."""
    expiry: str = ""
    """YYYYMM for derivatives; empty for stocks."""
    strike: Decimal | None = None
    last_day: dt.date | None = None
    """Derivatives: the last trading day (expiry) of the contract; None for stocks and spreads."""

    def tick_size(self, price: Decimal) -> Decimal:
        if self.kind == "stock" or self.kind == "spac":
            return krx_stock_tick(price)
        if self.market == "koptions":
            return krx_option_tick(price)
        return self.tick


# ---------------------------------------------------------------------------------------------
# The universe at real sizes (LS_OPENAPI.md §5) and its master rows (§4).
# ---------------------------------------------------------------------------------------------

KOSPI_ORDINARY = 960
KOSPI_ETF = 1_048
KOSPI_ETN = 393
KOSDAQ_TOTAL = 1_811
SPACS_KOSPI = 10
SPACS_KOSDAQ = 67
"""77 SPACs across both markets (t8436 dump of 2025-12-04, §5)."""

_KRX_MONTH_CHARS = "123456789ABC"

_NAME_HEADS = tuple(
    "삼성 현대 대한 동화 한국 신한 LG SK 한화 대우 유진 세진 태양 미래 동양 제일 우리 고려 국제 한일 "
    "서울 부산 대성 삼양 동원 코오롱 효성 일진 대림 한솔 금호 성우 에이스 케이 엔에스 씨젠 "
    "비츠로 아이티 디에스".split()
)
_NAME_MIDS = tuple("글로벌 코리아 이노 넥스 퓨처 메디 스마트 네오 하이 오션 그린 유니".split())
_NAME_TAILS = tuple(
    "전자 화학 제약 바이오 건설 산업 증권 홀딩스 테크 에너지 소재 정밀 통신 식품 물산 중공업 반도체 시스템 "
    "로보틱스 제지 해운 금속 디스플레이 엔터 게임즈 헬스케어 모빌리티 케미칼 생명과학 머티리얼즈".split()
)
_ETF_BRANDS = tuple("KODEX TIGER RISE ACE SOL HANARO PLUS KOSEF ARIRANG TIMEFOLIO".split())
_ETF_THEMES = tuple(
    "200 코스닥150 미국S&P500 2차전지산업 반도체 레버리지 인버스 국고채10년 골드선물(H) 차이나CSI300 "
    "미국나스닥100 배당성장 고배당 헬스케어 단기채권 KRX금현물 일본니케이225 미국채30년 AI반도체 조선TOP10 "
    "원자력 은행 자동차 200TR CD금리액티브".split()
)
_ETN_ISSUERS = tuple("신한 삼성 미래에셋 한투 KB NH 메리츠 하나".split())
_SPAC_ISSUERS = tuple("하나금융 미래에셋 신한 엔에이치 교보 삼성 유안타 대신밸런스 SK IBKS".split())

_STOCK_GROUP = {"stock": "01", "spac": "01", "etf": "08", "etn": "17"}
"""bu12gubun per kind; LS documents only the field (증권그룹), these codes are the simulator's choice."""


@dataclass(frozen=True, slots=True)
class OverseasProduct:
    """One overseas futures or options product as o3101/o3121 describe it."""

    code: str
    """BscGdsCd: ``ES`` for futures, ``O_ES`` for options."""
    name: str
    exch: str
    exch_name: str
    currency: str
    gds_cd: str
    tick: Decimal
    tick_value: Decimal
    dot_gb: int
    contract_amount: Decimal
    margin: Decimal
    start_time: str
    end_time: str
    ref_price: Decimal
    """Underlying price around which expiries and strikes are generated."""
    strike_step: Decimal = Decimal(0)
    """Options only: distance between strikes."""
    vol: float = 0.2
    cycle: str = "all"
    """The futures' listed-month cycle (``sim/listings.cycle_months``); an option product has its
    underlying's, which is how an option month finds the future it exercises into."""


@dataclass(frozen=True, slots=True)
class Universe:
    """Every market's instruments plus what the master TRs need beyond ``Instrument``."""

    instruments: Mapping[str, tuple[Instrument, ...]]
    """Instruments by market key (one of MARKETS), in master order."""
    as_of: dt.date
    """The date the masters describe (their ApplDate): what was listed that day."""
    products: Mapping[str, OverseasProduct]
    """Overseas futures (``ES``) and option (``O_ES``) products by BscGdsCd."""
    prev_range: Mapping[str, tuple[Decimal, Decimal]]
    """KRX derivatives: (jnilhigh, jnillow) per symbol."""

    def by_symbol(self, market: str, symbol: str) -> Instrument | None:
        for inst in self.instruments[market]:
            if inst.symbol == symbol:
                return inst
        return None


def _d(text: str) -> Decimal:
    return Decimal(text)


# Overseas futures products (o3101). Columns: BscGdsCd | BscGdsNm | ExchCd | GdsCd | UntPrc (tick)
# | MnChgAmt (tick value) | DotGb | CtrtPrAmt | OpngMgn | reference price | listed-month cycle
# ("all" = monthly; "2+HMUZ" = the two nearest months, then quarterly: HKEX's HSI).
_OFUT_TABLE = """
ES  | E-mini S&P 500             | CME   | 001 | 0.25      | 12.5   | 2 | 50       | 22500   | 6800   | HMUZ
NQ  | E-mini NASDAQ 100          | CME   | 001 | 0.25      | 5      | 2 | 20       | 32000   | 24000  | HMUZ
YM  | E-mini Dow ($5)            | CBOT  | 001 | 1         | 5      | 0 | 5        | 15000   | 47000  | HMUZ
RTY | E-mini Russell 2000        | CME   | 001 | 0.1       | 5      | 1 | 50       | 9500    | 2500   | HMUZ
CL  | Crude Oil                  | NYMEX | 004 | 0.01      | 10     | 2 | 1000     | 6000    | 65     | all
NG  | Natural Gas                | NYMEX | 004 | 0.001     | 10     | 3 | 10000    | 4500    | 3.5    | all
GC  | Gold                       | COMEX | 005 | 0.1       | 10     | 1 | 100      | 18000   | 4000   | GJMQVZ
SI  | Silver                     | COMEX | 005 | 0.005     | 25     | 3 | 5000     | 15000   | 48     | HKNUZ
HG  | Copper                     | COMEX | 005 | 0.0005    | 12.5   | 4 | 25000    | 6500    | 5      | HKNUZ
ZB  | U.S. Treasury Bond         | CBOT  | 003 | 0.03125   | 31.25  | 5 | 100000   | 4800    | 116.5  | HMUZ
ZN  | 10-Year U.S. Treasury Note | CBOT  | 003 | 0.015625  | 15.625 | 6 | 100000   | 2300    | 112.5  | HMUZ
6E  | Euro FX                    | CME   | 002 | 0.00005   | 6.25   | 5 | 125000   | 2800    | 1.16   | HMUZ
6J  | Japanese Yen               | CME   | 002 | 0.0000005 | 6.25   | 7 | 12500000 | 3200    | 0.0068 | HMUZ
AD  | Australian Dollar          | CME   | 002 | 0.00005   | 5      | 5 | 100000   | 2035    | 0.665  | HMUZ
6B  | British Pound              | CME   | 002 | 0.0001    | 6.25   | 4 | 62500    | 2600    | 1.34   | HMUZ
M6E | E-micro EUR/USD            | CME   | 002 | 0.0001    | 1.25   | 4 | 12500    | 292     | 1.16   | HMUZ
HSI | Hang Seng Index            | HKEX  | 001 | 1         | 50     | 0 | 50       | 130000  | 25000  | 2+HMUZ
NK  | Nikkei 225 (SGX)           | SGX   | 001 | 5         | 2500   | 0 | 500      | 1200000 | 48000  | HMUZ
"""
_CURRENCY = {"HKEX": "HKD", "SGX": "JPY"}
"""CrncyCd by exchange; USD elsewhere."""


def _table(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("|")] for line in text.strip().splitlines()]


# option code, name, underlying futures code, option tick, strike step, vol
_OOPT_SPECS: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("O_ES", "E-mini S&P 500 Option", "ES", "0.25", "5", 0.18),
    ("O_E1A", "W1 Monday E-mini S&P 500 Option", "ES", "0.05", "5", 0.18),
    ("O_NQ", "E-mini NASDAQ 100 Option", "NQ", "0.25", "25", 0.22),
    ("O_YM", "E-mini Dow ($5) Option", "YM", "1", "50", 0.16),
    ("O_CL", "Crude Oil Option", "CL", "0.01", "0.5", 0.35),
    ("O_NG", "Natural Gas Option", "NG", "0.001", "0.05", 0.6),
    ("O_GC", "Gold Option", "GC", "0.1", "5", 0.2),
    ("O_SI", "Silver Option", "SI", "0.005", "0.25", 0.3),
    ("O_HG", "Copper Option", "HG", "0.0005", "0.05", 0.25),
    ("O_ZB", "U.S. Treasury Bond Option", "ZB", "0.015625", "0.5", 0.1),
    ("O_ZN", "10-Year U.S. Treasury Note Option", "ZN", "0.015625", "0.25", 0.07),
    ("O_6E", "Euro FX Option", "6E", "0.00005", "0.005", 0.08),
    ("O_6J", "Japanese Yen Option", "6J", "0.0000005", "0.00005", 0.1),
    ("O_AD", "Australian Dollar Option", "AD", "0.00005", "0.005", 0.1),
)
_OPTION_UNDERLYING = {spec[0]: spec[2] for spec in _OOPT_SPECS}
_OFUT_MONTHS = 4
"""Contract months listed per overseas futures product: 18 products x 4 = 72."""
_OOPT_EXPIRIES = 4
_OOPT_STRIKES = 150
"""14 products x 4 expiries x 150 strikes x call/put = 16,800 series (§5: "more than 15,000")."""

_EXCH_NAMES = {
    "CME": "시카고상업거래소",
    "CBOT": "시카고상품거래소",
    "NYMEX": "뉴욕상업거래소",
    "COMEX": "뉴욕상품거래소",
    "HKEX": "홍콩거래소",
    "SGX": "싱가포르거래소",
}

K200_LEVEL = Decimal("870.00")
_K200_FUTURES = 4
"""Quarterly KOSPI200 futures listed (KRX lists 7; the nearest 4 are what anyone trades)."""
_K200_STRIKES = 238
_K200_STRIKE_LOW = Decimal("575.0")
_K200_STRIKE_STEP = Decimal("2.5")
"""11 expiries (k200_option_months) x 238 strikes x call/put = 5,236 codes (t9944 returned 5,224 on
2026-07-31, §5)."""


def isin(prefix: str, body: str) -> str:
    """An ISIN (12 chars) from its country/type prefix and body, with the Luhn check digit."""
    base = prefix + body
    digits = "".join(str(int(c, 36)) for c in base)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return base + str((10 - total % 10) % 10)


def _snap_down(value: Decimal, tick: Decimal) -> Decimal:
    return (value / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


def _snap_up(value: Decimal, tick: Decimal) -> Decimal:
    return (value / tick).to_integral_value(rounding=ROUND_CEILING) * tick


def _snap_stock(value: Decimal) -> Decimal:
    return max(Decimal(1), _snap_down(value, krx_stock_tick(value)))


def stock_limits(ref: Decimal, kind: str) -> tuple[Decimal, Decimal]:
    """KRX daily limits (±30%), on the grid: (uplmtprice, dnlmtprice)."""
    if kind in ("etf", "etn"):
        return _snap_down(ref * Decimal("1.3"), Decimal(5)), _snap_up(ref * Decimal("0.7"), Decimal(5))
    up = ref * Decimal("1.3")
    down = ref * Decimal("0.7")
    return _snap_down(up, krx_stock_tick(up)), _snap_up(down, krx_stock_tick(down))


def _log_uniform(rnd: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(round(math.exp(rnd.uniform(math.log(low), math.log(high))))))


def _stock_name(rnd: random.Random, used: set[str]) -> str:
    for attempt in range(50):
        mid = rnd.choice(_NAME_MIDS) if attempt >= 3 else ""
        name = rnd.choice(_NAME_HEADS) + mid + rnd.choice(_NAME_TAILS)
        if name not in used:
            used.add(name)
            return name
    base = rnd.choice(_NAME_HEADS) + rnd.choice(_NAME_TAILS)
    n = 2
    while f"{base}{n}" in used:
        n += 1
    used.add(f"{base}{n}")
    return f"{base}{n}"


def _unique_code(rnd: random.Random, used: set[str], low: int, high: int, step: int) -> str:
    while True:
        code = f"{rnd.randrange(low, high, step):06d}"
        if code not in used:
            used.add(code)
            return code


def _stocks(rnd: random.Random, market: str, used_codes: set[str], used_names: set[str]) -> list[Instrument]:
    if market == "kospi":
        plan = [
            ("stock", KOSPI_ORDINARY - SPACS_KOSPI),
            ("spac", SPACS_KOSPI),
            ("etf", KOSPI_ETF),
            ("etn", KOSPI_ETN),
        ]
    else:
        plan = [("stock", KOSDAQ_TOTAL - SPACS_KOSDAQ), ("spac", SPACS_KOSDAQ)]
    out: list[Instrument] = []
    spac_no = 0
    for kind, count in plan:
        for _ in range(count):
            if kind == "stock":
                code = _unique_code(rnd, used_codes, 10, 480_000, 10)
                name = _stock_name(rnd, used_names)
                price = _snap_stock(_log_uniform(rnd, 600, 600_000))
                tick = Decimal(1)
            elif kind == "spac":
                spac_no += 1
                code = _unique_code(rnd, used_codes, 400_000, 480_000, 10)
                name = f"{rnd.choice(_SPAC_ISSUERS)}스팩{spac_no + 10}호"
                price = _snap_stock(Decimal(rnd.randrange(1_950, 2_600)))
                tick = Decimal(1)
            elif kind == "etf":
                code = _unique_code(rnd, used_codes, 69_500, 499_990, 5)
                name = f"{rnd.choice(_ETF_BRANDS)} {rnd.choice(_ETF_THEMES)}"
                price = _snap_down(_log_uniform(rnd, 2_500, 120_000), Decimal(5))
                tick = Decimal(5)
            else:
                code = _unique_code(rnd, used_codes, 500_000, 600_000, 1)
                name = f"{rnd.choice(_ETN_ISSUERS)} {rnd.choice(_ETF_THEMES)} ETN"
                price = _snap_down(_log_uniform(rnd, 1_000, 40_000), Decimal(5))
                tick = Decimal(5)
            out.append(Instrument(market, code, name, price, 0, kind, tick))
    out.sort(key=lambda i: i.symbol)
    return out


def krx_derivative_code(kind: str, year: int, month: int, tail: str) -> str:
    """2026-format KRX derivative code: kind letter + ``01`` + year digit + month char + 3-char tail.

    ``A0166000`` = KOSPI200 future June 2026; ``B0168872`` = call Aug 2026 strike 872.5;
    ``A017C000`` = future Dec 2027 (LS_OPENAPI.md §3.2). The year is its last digit, as in every
    code LS has shown; listings span under three years, so the digit is never ambiguous in a master.
    """
    return f"{kind}01{year % 10}{_KRX_MONTH_CHARS[month - 1]}{tail}"


def _bs_price(spot: float, strike: float, years: float, vol: float, call: bool) -> float:
    """Black-Scholes premium with zero rates; only used to place generated prices sensibly."""
    if years <= 0:
        return max(0.0, spot - strike) if call else max(0.0, strike - spot)
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    if call:
        return spot * cdf(d1) - strike * cdf(d2)
    return strike * cdf(-d2) - spot * cdf(-d1)


def _years_to(as_of: dt.date, expiry: dt.date) -> float:
    return max(1, (expiry - as_of).days) / 365.0


def _kfutures(
    rnd: random.Random, as_of: dt.date, prev: dict[str, tuple[Decimal, Decimal]]
) -> list[Instrument]:
    tick = Decimal("0.05")
    out: list[Instrument] = []
    months = k200_future_months(as_of, _K200_FUTURES)
    for i, (y, m) in enumerate(months):
        drift = Decimal(i) * Decimal("2.5") + Decimal(rnd.randrange(-40, 40)) * tick
        price = _snap_down(K200_LEVEL + drift, tick)
        code = krx_derivative_code("A", y, m, "000")
        out.append(
            Instrument(
                "kfutures",
                code,
                f"F {y % 100:02d}{m:02d}",
                price,
                2,
                "future",
                tick,
                "K200",
                f"{y}{m:02d}",
                last_day=k200_last_day(y, m),
            )
        )
        prev[code] = (price + rnd.randrange(0, 60) * tick, price - rnd.randrange(0, 60) * tick)
    for (y1, m1), (y2, m2) in itertools.pairwise(months):
        code = f"D01{y1 % 10}{_KRX_MONTH_CHARS[m1 - 1]}{y2 % 10}{_KRX_MONTH_CHARS[m2 - 1]}S"
        price = Decimal(rnd.randrange(30, 80)) * tick
        out.append(
            Instrument(
                "kfutures",
                code,
                f"F SP {m1:02d}-{y2 % 100:02d}{m2:02d}",
                price,
                2,
                "spread",
                tick,
                "K200",
                f"{y1}{m1:02d}",
            )
        )
        prev[code] = (Decimal("0.00"), Decimal("0.00"))
    return out


def _koptions(
    rnd: random.Random, as_of: dt.date, prev: dict[str, tuple[Decimal, Decimal]]
) -> list[Instrument]:
    out: list[Instrument] = []
    spot = float(K200_LEVEL)
    for y, m in k200_option_months(as_of):
        last_day = k200_last_day(y, m)
        years = _years_to(as_of, last_day)
        for j in range(_K200_STRIKES):
            strike = _K200_STRIKE_LOW + _K200_STRIKE_STEP * j
            tail = f"{int(strike) % 1000:03d}"
            for kind, letter, call in (("call", "B", True), ("put", "C", False)):
                raw = Decimal(str(round(_bs_price(spot, float(strike), years, 0.2, call), 4)))
                premium = max(Decimal("0.01"), _snap_down(raw, krx_option_tick(raw))).quantize(
                    Decimal("0.01")
                )
                code = krx_derivative_code(letter, y, m, tail)
                name = f"{'C' if call else 'P'} {y % 100:02d}{m:02d} {strike:.1f}"
                out.append(
                    Instrument(
                        "koptions",
                        code,
                        name,
                        premium,
                        2,
                        kind,
                        krx_option_tick(premium),
                        "K200",
                        f"{y}{m:02d}",
                        strike,
                        last_day,
                    )
                )
                if rnd.random() < 0.3:
                    hi = premium + krx_option_tick(premium) * rnd.randrange(1, 20)
                    lo = max(Decimal("0.01"), premium - krx_option_tick(premium) * rnd.randrange(1, 20))
                    prev[code] = (hi, lo)
                else:
                    prev[code] = (Decimal("0.00"), Decimal("0.00"))
    return out


def _overseas(
    rnd: random.Random, as_of: dt.date, products: dict[str, OverseasProduct]
) -> tuple[list[Instrument], list[Instrument]]:
    futures: list[Instrument] = []
    for code, name, exch, gds, tick, tval, dot, amt, margin, price, cycle in _table(_OFUT_TABLE):
        # DlStrtTm/DlEndTm in KST: the session of the as-of date by the shared hours, so the master
        # agrees with when the simulator trades (CME 08:00-07:00 KST in winter, 07:00-06:00 in summer).
        start, end = master_hours(exchange_group(exch)[0], as_of)
        prod = OverseasProduct(
            code,
            name,
            exch,
            _EXCH_NAMES[exch],
            _CURRENCY.get(exch, "USD"),
            gds,
            _d(tick),
            _d(tval),
            int(dot),
            _d(amt),
            _d(margin),
            start,
            end,
            _d(price),
            cycle=cycle,
        )
        products[code] = prod
        for y, m in future_months(code, cycle, as_of, _OFUT_MONTHS):
            drift = Decimal(1) + Decimal(rnd.randrange(-200, 200)) / Decimal(10_000)
            ref = max(prod.tick, _snap_down(prod.ref_price * drift, prod.tick))
            symbol = f"{code}{MONTH_LETTERS[m - 1]}{y % 100:02d}"
            futures.append(
                Instrument(
                    "ofutures",
                    symbol,
                    f"{name}({y}.{m:02d})",
                    ref,
                    prod.dot_gb,
                    "future",
                    prod.tick,
                    code,
                    f"{y}{m:02d}",
                    last_day=future_last_day(code, y, m),
                )
            )
    options: list[Instrument] = []
    for ocode, oname, under, otick_s, step_s, vol in _OOPT_SPECS:
        base = products[under]
        otick, step = _d(otick_s), _d(step_s)
        exponent = otick.normalize().as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        products[ocode] = OverseasProduct(
            ocode,
            oname,
            base.exch,
            base.exch_name,
            base.currency,
            base.gds_cd,
            otick,
            base.tick_value,
            places,
            base.contract_amount,
            base.margin,
            base.start_time,
            base.end_time,
            base.ref_price,
            step,
            vol,
            base.cycle,
        )
        short = ocode.removeprefix("O_")
        low = max(step, _snap_down(base.ref_price, step) - step * (_OOPT_STRIKES // 2))
        for y, m in option_months(ocode, as_of, _OOPT_EXPIRIES):
            expires = option_expiry(ocode, y, m)
            years = _years_to(as_of, expires)
            month = f"{MONTH_LETTERS[m - 1]}{y % 100:02d}"
            for j in range(_OOPT_STRIKES):
                strike = low + step * j
                for kind, digit, call in (("call", "2", True), ("put", "3", False)):
                    raw = _bs_price(float(base.ref_price), float(strike), years, vol, call)
                    premium = max(otick, _snap_down(Decimal(f"{raw:.10f}"), otick))
                    strike_txt = format(strike.normalize(), "f")
                    # Symbol: call/put digit (2/3, as in KRX option codes) + product + month + _strike.
                    symbol = f"{digit}{short}{month}_{strike_txt}"
                    name = f"{oname} {'Call' if call else 'Put'} {strike_txt}({y}.{m:02d})"
                    options.append(
                        Instrument(
                            "ooptions",
                            symbol,
                            name,
                            premium,
                            places,
                            kind,
                            otick,
                            ocode,
                            f"{y}{m:02d}",
                            strike,
                            expires,
                        )
                    )
    return futures, options


def build_universe(seed: int = 0, *, as_of: dt.date) -> Universe:
    """The whole simulated universe as listed on ``as_of``; the same for the same (seed, as_of).

    ``as_of`` is the simulator clock's Seoul date: derivatives roll with it (``sim/listings``);
    the stocks depend on the seed alone.
    """
    rnd = random.Random(seed)
    used_codes: set[str] = set()
    used_names: set[str] = set()
    prev: dict[str, tuple[Decimal, Decimal]] = {}
    products: dict[str, OverseasProduct] = {}
    kospi = _stocks(rnd, "kospi", used_codes, used_names)
    kosdaq = _stocks(rnd, "kosdaq", used_codes, used_names)
    kfutures = _kfutures(rnd, as_of, prev)
    koptions = _koptions(rnd, as_of, prev)
    ofutures, ooptions = _overseas(rnd, as_of, products)
    instruments = {
        "kospi": tuple(kospi),
        "kosdaq": tuple(kosdaq),
        "kfutures": tuple(kfutures),
        "koptions": tuple(koptions),
        "ofutures": tuple(ofutures),
        "ooptions": tuple(ooptions),
    }
    return Universe(
        instruments=MappingProxyType(instruments),
        as_of=as_of,
        products=MappingProxyType(products),
        prev_range=MappingProxyType(prev),
    )


# ---------------------------------------------------------------------------------------------
# Master rows, rendered as LS's examples show them (tests/fixtures/ls_examples): key order, JSON
# numbers where LS sends numbers (t8436 prices, o3101 DotGb), fixed-decimal strings elsewhere.
# ---------------------------------------------------------------------------------------------

Row = dict[str, object]

_KRX_FUT_LIMIT = Decimal("0.10")
_KRX_SPREAD_LIMIT = Decimal("30.00")
_K200_OPT_LIMIT = (K200_LEVEL * Decimal("0.15")).quantize(Decimal("0.01"))


class MasterRequestError(ValueError):
    """An InBlock value the master TR does not accept; the message names the field."""


def _f2(value: Decimal) -> str:
    return f"{value:.2f}"


def _fx(value: Decimal, places: int) -> str:
    return f"{value:.{places}f}"


def _stock_row(inst: Instrument, market_gubun: str) -> Row:
    up, down = stock_limits(inst.ref_price, inst.kind)
    close = int(inst.ref_price)
    etf = {"etf": "1", "etn": "2"}.get(inst.kind, "0")
    prefix = "KRG" if inst.kind == "etn" else "KR7"
    return {
        "shcode": inst.symbol,
        "jnilclose": close,
        "uplmtprice": int(up),
        "spac_gubun": "Y" if inst.kind == "spac" else "N",
        "etfgubun": etf,
        "dnlmtprice": int(down),
        "gubun": market_gubun,
        "memedan": "00001",
        "recprice": close,
        "bu12gubun": _STOCK_GROUP[inst.kind],
        "filler": "",
        "expcode": isin(prefix, inst.symbol + "00"),
        "hname": inst.name,
    }


def _stock_markets(gubun: str) -> tuple[tuple[str, str], ...]:
    if gubun == "0":
        return (("kospi", "1"), ("kosdaq", "2"))
    if gubun == "1":
        return (("kospi", "1"),)
    if gubun == "2":
        return (("kosdaq", "2"),)
    raise MasterRequestError(f"gubun must be 0, 1 or 2, got {gubun!r}")


def t8436_rows(universe: Universe, gubun: str) -> list[Row]:
    return [
        _stock_row(inst, mg) for market, mg in _stock_markets(gubun) for inst in universe.instruments[market]
    ]


def t8430_rows(universe: Universe, gubun: str) -> list[Row]:
    out: list[Row] = []
    for row in t8436_rows(universe, gubun):
        out.append(
            {
                "hname": row["hname"],
                "shcode": row["shcode"],
                "expcode": row["expcode"],
                "etfgubun": "1" if row["etfgubun"] == "1" else "0",
                "uplmtprice": row["uplmtprice"],
                "dnlmtprice": row["dnlmtprice"],
                "jnilclose": row["jnilclose"],
                "memedan": row["memedan"],
                "recprice": row["recprice"],
                "gubun": row["gubun"],
            }
        )
    return out


def kfutures_rows(universe: Universe, gubun: str) -> list[Row]:
    """t8467 (and legacy t8432): ``V``/``S`` select volatility/sector futures, which the sim does not list."""
    if gubun in ("V", "S"):
        return []
    out: list[Row] = []
    for inst in universe.instruments["kfutures"]:
        high, low = universe.prev_range[inst.symbol]
        if inst.kind == "spread":
            up, down = inst.ref_price + _KRX_SPREAD_LIMIT, inst.ref_price - _KRX_SPREAD_LIMIT
            close = Decimal(0)
        else:
            up = _snap_down(inst.ref_price * (1 + _KRX_FUT_LIMIT), inst.tick)
            down = _snap_up(inst.ref_price * (1 - _KRX_FUT_LIMIT), inst.tick)
            close = inst.ref_price
        out.append(
            {
                "jnilhigh": _f2(high),
                "recprice": _f2(close),
                "shcode": inst.symbol,
                "jnilclose": _f2(close),
                "uplmtprice": _f2(up),
                "expcode": isin("KR4", inst.symbol),
                "hname": inst.name,
                "jnillow": _f2(low),
                "dnlmtprice": _f2(down),
            }
        )
    return out


def t8433_rows(universe: Universe) -> list[Row]:
    out: list[Row] = []
    for inst in universe.instruments["koptions"]:
        high, low = universe.prev_range[inst.symbol]
        up = _snap_down(inst.ref_price + _K200_OPT_LIMIT, Decimal("0.05"))
        down = max(
            Decimal("0.01"), _snap_up(inst.ref_price - _K200_OPT_LIMIT, krx_option_tick(inst.ref_price))
        )
        out.append(
            {
                "jnilhigh": _f2(high),
                "recprice": _f2(inst.ref_price),
                "hprice": _f2(up),
                "lprice": _f2(down),
                "shcode": inst.symbol,
                "jnilclose": _f2(inst.ref_price),
                "expcode": isin("KR4", inst.symbol),
                "hname": inst.name,
                "jnillow": _f2(low),
            }
        )
    return out


def _overseas_row(universe: Universe, inst: Instrument, prod: OverseasProduct) -> Row:
    year, month = inst.expiry[:4], int(inst.expiry[4:])
    return {
        "GdsCd": prod.gds_cd,
        "MnChgAmt": _fx(prod.tick_value, 9),
        "BscGdsCd": prod.code,
        "Symbol": inst.symbol,
        "UntPrc": _fx(prod.tick, 9),
        "ApplDate": universe.as_of.strftime("%Y%m%d"),
        "ExchNm": prod.exch_name,
        "MntncMgnR": "0.000",
        "OpngMgn": _fx(prod.margin, 2),
        "CtrtPrAmt": _fx(prod.contract_amount, 2),
        "DotGb": prod.dot_gb,
        "LstngM": MONTH_LETTERS[month - 1],
        "DlEndTm": prod.end_time,
        "DlPsblCd": "1",
        "BscGdsNm": prod.name,
        "NotaCd": "10",
        "OpngMgnR": "0.000",
        "RgltFctr": "1.0000000000",
        "MgnCltCd": "1",
        "DlStrtTm": prod.start_time,
        "CrncyCd": prod.currency,
        "LstngYr": year,
        "EcPrc": _fx(inst.ref_price, 9),
        "MntncMgn": _fx(prod.margin * Decimal("0.9"), 2),
        "SymbolNm": inst.name,
        "ExchCd": prod.exch,
    }


def o3101_rows(universe: Universe) -> list[Row]:
    return [
        _overseas_row(universe, inst, universe.products[inst.product])
        for inst in universe.instruments["ofutures"]
    ]


_O3121_ORDER = (
    "GdsCd",
    "MnChgAmt",
    "BscGdsCd",
    "Symbol",
    "XrcPrc",
    "UntPrc",
    "OptMinOrcPrc",
    "ApplDate",
    "ExchNm",
    "MntncMgnR",
    "OpngMgn",
    "FdasBasePrc",
    "CtrtPrAmt",
    "DotGb",
    "OptMinBaseOrcPrc",
    "LstngM",
    "DlEndTm",
    "RgtXrcPtnCode",
    "DlPsblCd",
    "BscGdsNm",
    "NotaCd",
    "OpngMgnR",
    "RgltFctr",
    "OptTpCode",
    "LastSettPtnCode",
    "MgnCltCd",
    "Moneyness",
    "DlStrtTm",
    "CrncyCd",
    "LstngYr",
    "EcPrc",
    "MntncMgn",
    "SymbolNm",
    "ExchCd",
)
_O3121_ZERO = frozenset(
    {"MnChgAmt", "UntPrc", "MntncMgnR", "OpngMgn", "CtrtPrAmt", "OpngMgnR", "RgltFctr", "EcPrc", "MntncMgn"}
)


def _product_row(universe: Universe, prod: OverseasProduct) -> Row:
    """One o3121 product-list row: like LS's example, numbers are "0", DotGb 0, the rest blank."""
    row: Row = {}
    for key in _O3121_ORDER:
        row[key] = "0" if key in _O3121_ZERO else ""
    row.update(
        {
            "GdsCd": prod.gds_cd,
            "BscGdsCd": prod.code,
            "ApplDate": universe.as_of.strftime("%Y%m%d"),
            "ExchNm": prod.exch_name,
            "DotGb": 0,
            "BscGdsNm": prod.name,
            "ExchCd": prod.exch,
        }
    )
    return row


def _option_row(universe: Universe, inst: Instrument, prod: OverseasProduct) -> Row:
    base = _overseas_row(universe, inst, prod)
    under = universe.products[_OPTION_UNDERLYING[prod.code]]
    strike = inst.strike if inst.strike is not None else Decimal(0)
    spot = under.ref_price
    if abs(strike - spot) < prod.strike_step:
        moneyness = "1"
    elif (inst.kind == "call") == (strike < spot):
        moneyness = "2"
    else:
        moneyness = "3"
    extra: Row = {
        "XrcPrc": _fx(strike, 9),
        "FdasBasePrc": _fx(spot, 9),
        "OptTpCode": "C" if inst.kind == "call" else "P",
        "RgtXrcPtnCode": "A",
        "Moneyness": moneyness,
        "LastSettPtnCode": _underlying_symbol(under, inst),
        "OptMinOrcPrc": _fx(prod.tick, 9),
        "OptMinBaseOrcPrc": _fx(prod.tick, 9),
    }
    return {key: extra[key] if key in extra else base[key] for key in _O3121_ORDER}


def _underlying_symbol(under: OverseasProduct, inst: Instrument) -> str:
    """The future an option month exercises into (``ESH27`` for a January ES option)."""
    y, m = underlying_month(under.cycle, (int(inst.expiry[:4]), int(inst.expiry[4:])))
    return f"{under.code}{MONTH_LETTERS[m - 1]}{y % 100:02d}"


def _future_as_o3121(universe: Universe, inst: Instrument, prod: OverseasProduct) -> Row:
    base = _overseas_row(universe, inst, prod)
    return {key: base.get(key, "") for key in _O3121_ORDER}


def o3121_rows(universe: Universe, mkt_gb: str, bsc_gds_cd: str) -> list[Row]:
    """``MktGb`` O/F; an empty ``BscGdsCd`` lists products, a product code lists its series."""
    if mkt_gb == "O":
        market = "ooptions"
    elif mkt_gb == "F":
        market = "ofutures"
    else:
        raise MasterRequestError(f"MktGb must be F or O, got {mkt_gb!r}")
    if bsc_gds_cd.strip() == "":
        return [
            _product_row(universe, prod)
            for prod in universe.products.values()
            if prod.code.startswith("O_") == (market == "ooptions")
        ]
    prod = universe.products.get(bsc_gds_cd.strip())
    if prod is None:
        return []
    render = _option_row if market == "ooptions" else _future_as_o3121
    return [
        render(universe, inst, prod) for inst in universe.instruments[market] if inst.product == prod.code
    ]


def master_rows(universe: Universe, tr_cd: str, inblock: Mapping[str, object]) -> list[Row]:
    """The OutBlock rows a master TR answers for an InBlock (§4). Missing fields raise KeyError."""
    if tr_cd == "t8436":
        return t8436_rows(universe, str(inblock["gubun"]))
    if tr_cd == "t8430":
        return t8430_rows(universe, str(inblock["gubun"]))
    if tr_cd in ("t8467", "t8432"):
        return kfutures_rows(universe, str(inblock["gubun"]))
    if tr_cd == "t8433":
        _ = inblock["dummy"]
        return t8433_rows(universe)
    if tr_cd == "o3101":
        _ = inblock["gubun"]
        return o3101_rows(universe)
    if tr_cd == "o3121":
        return o3121_rows(universe, str(inblock["MktGb"]), str(inblock["BscGdsCd"]))
    raise MasterRequestError(f"{tr_cd} is not a master TR")
