"""The derivatives listed on a date: KOSPI200 futures, their calendar spreads and options, and
overseas futures and options products (o3101's products table) with their contract months and
strikes.

Which months trade comes from ``sim/listings``' calendars; prices are drawn from the
``random.Random`` passed in and placed near Black-Scholes values, so (seed, date) gives the same
series.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from decimal import Decimal

from gatherer.sim.listings import (
    MONTH_LETTERS,
    future_last_day,
    future_months,
    k200_future_months,
    k200_last_day,
    k200_option_months,
    option_expiry,
    option_months,
)
from gatherer.sim.universe.instruments import (
    K200_LEVEL,
    Instrument,
    OverseasProduct,
    _snap_down,
    krx_option_tick,
)
from gatherer.venues.ls.hours import exchange_group, master_hours

_KRX_MONTH_CHARS = "123456789ABC"


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

_K200_FUTURES = 4
"""Quarterly KOSPI200 futures listed (KRX lists 7; the nearest 4 are what anyone trades)."""
_K200_STRIKES = 238
_K200_STRIKE_LOW = Decimal("575.0")
_K200_STRIKE_STEP = Decimal("2.5")
"""11 expiries (k200_option_months) x 238 strikes x call/put = 5,236 codes (t9944 returned 5,224 on
2026-07-31, §5)."""


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
