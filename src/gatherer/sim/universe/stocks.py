"""KOSPI and KOSDAQ listings at real sizes (LS_OPENAPI.md §5): ordinary shares, SPACs, ETFs and
ETNs with plausible Korean names, unique codes and reference prices on the tick grid.

Everything is drawn from the ``random.Random`` passed in, in a fixed order, so a seed gives the
same stocks.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

from gatherer.sim.universe.instruments import Instrument, _snap_down, krx_stock_tick

KOSPI_ORDINARY = 960
KOSPI_ETF = 1_048
KOSPI_ETN = 393
KOSDAQ_TOTAL = 1_811
SPACS_KOSPI = 10
SPACS_KOSDAQ = 67
"""77 SPACs across both markets (t8436 dump of 2025-12-04, §5)."""
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


def _snap_stock(value: Decimal) -> Decimal:
    return max(Decimal(1), _snap_down(value, krx_stock_tick(value)))


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
