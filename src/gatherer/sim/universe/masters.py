"""The universe rendered the way the venue's master TRs (t8436, t8430, t8467/t8432, t8433, o3101,
o3121) return it (LS_OPENAPI.md §4), as LS's examples show (tests/fixtures/ls_examples): key
order, JSON numbers where LS sends numbers (t8436 prices, o3101 DotGb), fixed-decimal strings
elsewhere.

``master_rows`` answers one InBlock, or raises ``MasterRequestError`` naming the field. Pure:
it reads the universe and nothing else.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Mapping
from decimal import Decimal

from gatherer.sim.listings import (
    MONTH_LETTERS,
    underlying_month,
)
from gatherer.sim.universe.derivatives import _OPTION_UNDERLYING
from gatherer.sim.universe.instruments import (
    K200_LEVEL,
    Instrument,
    OverseasProduct,
    Universe,
    _snap_down,
    _snap_up,
    isin,
    krx_option_tick,
    stock_limits,
)

Row = dict[str, object]

_STOCK_GROUP = {"stock": "01", "spac": "01", "etf": "08", "etn": "17"}
"""bu12gubun per kind; LS documents only the field (증권그룹), these codes are the simulator's choice."""

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


_NIGHT_OPTION_EXPIRIES = 3
"""KOSPI200 option expiries the night session lists (the nearest; KRX lists the near months)."""


def t8455_rows(universe: Universe, gubun: str) -> list[Row]:
    """t8455 KRX야간파생 마스터 (§5): ``NFU`` the KOSPI200 futures (no spreads), ``NOP`` the options of
    the nearest expiries with ``atmgb`` (1 ATM, 2 ITM, 3 OTM). The other families (mini, KOSDAQ150,
    commodity, weekly) are not in the simulated universe: an empty answer, as for an unknown
    ``gubun``."""
    if gubun == "NFU":
        insts = [i for i in universe.instruments["kfutures"] if i.kind == "future"]
        unit = "250000.00000000"
    elif gubun == "NOP":
        expiries = sorted({i.expiry for i in universe.instruments["koptions"]})[:_NIGHT_OPTION_EXPIRIES]
        insts = [i for i in universe.instruments["koptions"] if i.expiry in expiries]
        unit = "250000.00000000"
    else:
        return []
    step = Decimal("2.5")
    out: list[Row] = []
    for inst in insts:
        atm = ""
        if inst.strike is not None:
            if abs(inst.strike - K200_LEVEL) < step:
                atm = "1"
            else:
                itm = inst.strike < K200_LEVEL if inst.kind == "call" else inst.strike > K200_LEVEL
                atm = "2" if itm else "3"
        out.append(
            {
                "hname": inst.name,
                "shcode": inst.symbol,
                "expcode": isin("KR4", inst.symbol),
                "tradeunit": unit,
                "atmgb": atm,
            }
        )
    return out


T8407_MAX = 50


def previous_value(inst: Instrument) -> int:
    """The simulator's traded value of a stock on the previous session, KRW millions (t8407
    ``value``): heavy-tailed as KRX's is (a few codes carry most of the day's value), the same on
    every start for a code, ETFs and ETNs an order of magnitude lower."""
    rnd = random.Random(zlib.crc32(inst.symbol.encode()))
    scale = 0.1 if inst.kind in ("etf", "etn") else 1.0
    return max(1, int(math.exp(rnd.gauss(7.0, 2.0)) * scale))


def t8407_rows(universe: Universe, nrec: object, shcode: object) -> list[Row]:
    """t8407 API용주식멀티현재가조회 for ``nrec`` codes concatenated in ``shcode`` (6 characters each,
    at most 50): one OutBlock1 row per listed code, today's quote at the previous close and
    ``value`` the previous session's traded value (as LS shows before the open). Unknown codes are
    left out."""
    text = str(shcode)
    try:
        count = int(str(nrec))
    except ValueError:
        raise MasterRequestError(f"t8407 nrec {nrec!r} is not a number") from None
    if not 1 <= count <= T8407_MAX or len(text) != 6 * count:
        raise MasterRequestError(f"t8407 nrec {count} does not match shcode of {len(text)} characters")
    stocks = {i.symbol: i for m in ("kospi", "kosdaq") for i in universe.instruments[m]}
    out: list[Row] = []
    for code in (text[i : i + 6] for i in range(0, len(text), 6)):
        inst = stocks.get(code)
        if inst is None:
            continue
        price = int(inst.ref_price)
        up, down = stock_limits(inst.ref_price, inst.kind)
        out.append(
            {
                "shcode": code, "hname": inst.name, "price": price, "sign": "3", "change": 0, "diff": "0.00",
                "volume": 0, "offerho": 0, "bidho": 0, "cvolume": 0, "chdegree": "0.00", "open": 0,
                "high": 0, "low": 0, "value": previous_value(inst), "offerrem": 0, "bidrem": 0,
                "totofferrem": 0, "totbidrem": 0, "jnilclose": price, "uplmtprice": int(up),
                "dnlmtprice": int(down),
            }
        )  # fmt: skip
    return out


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
    if tr_cd == "t8407":
        return t8407_rows(universe, inblock["nrec"], inblock["shcode"])
    if tr_cd == "t8455":
        return t8455_rows(universe, str(inblock["gubun"]))
    if tr_cd == "o3101":
        _ = inblock["gubun"]
        return o3101_rows(universe)
    if tr_cd == "o3121":
        return o3121_rows(universe, str(inblock["MktGb"]), str(inblock["BscGdsCd"]))
    raise MasterRequestError(f"{tr_cd} is not a master TR")
