"""Market hours in every season (venues.ls.hours), JIF (장운영정보) codes to trading/quiet/closed,
and MarketStatus on top of the session windows."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import msgspec
import pytest

from gatherer.clock import SEOUL, seoul_ns
from gatherer.venues.ls.hours import (
    EXCHANGE_HOURS,
    KNOWN_PRODUCTS,
    SessionWindows,
    day_windows,
    exchange_group,
    group_of,
    master_hours,
    session_windows,
)
from gatherer.venues.ls.sessions import MarketStatus, jif_verdict, read_jif

from ..conftest import ls_example

WED = dt.date(2026, 11, 25)
THU = dt.date(2026, 11, 26)
WINTER = dt.date(2026, 12, 2)  # a Wednesday; Chicago on CST (UTC-6)
SUMMER = dt.date(2026, 7, 1)  # a Wednesday; Chicago on CDT (UTC-5)


@pytest.fixture(scope="module")
def windows() -> SessionWindows:
    """Every group from March 2026 to January 2027 (one calendar build for the module)."""
    return session_windows(dt.date(2026, 3, 1), dt.date(2027, 1, 10))


def hours(w: SessionWindows, group: str, day: dt.date) -> list[str]:
    """The group's windows on a Seoul date as "HH:MM-HH:MM" (24:00 for midnight)."""

    def hm(ns: int, end: bool) -> str:
        local = dt.datetime.fromtimestamp(ns / 1e9, tz=SEOUL)
        return "24:00" if end and local.date() > day else local.strftime("%H:%M")

    return [f"{hm(s, False)}-{hm(e, True)}" for s, e in day_windows(w, group, day)]


def test_cme_daily_break_is_07_to_08_kst_in_winter_and_06_to_07_in_summer(windows: SessionWindows) -> None:
    assert hours(windows, "CME", WINTER) == ["00:00-07:00", "08:00-24:00"]
    assert hours(windows, "CME", SUMMER) == ["00:00-06:00", "07:00-24:00"]
    at = seoul_ns
    assert windows.is_open("CME", at(WINTER, dt.time(6, 30)))  # the old fixed rule called this the break
    assert not windows.is_open("CME", at(WINTER, dt.time(7, 30)))
    assert windows.is_open("CME", at(WINTER, dt.time(8, 0)))
    assert not windows.is_open("CME", at(SUMMER, dt.time(6, 30)))
    assert windows.is_open("CME", at(SUMMER, dt.time(7, 30)))


def test_cme_weekend_and_holidays(windows: SessionWindows) -> None:
    # Friday 16:00 Chicago is Saturday 07:00 Seoul in winter; the week opens Sunday 17:00 Chicago.
    assert hours(windows, "CME", dt.date(2026, 12, 5)) == ["00:00-07:00"]
    assert hours(windows, "CME", dt.date(2026, 12, 6)) == []
    assert hours(windows, "CME", dt.date(2026, 12, 7)) == ["08:00-24:00"]
    # Christmas: the 24th halts at 12:00 Chicago (03:00 Seoul on the 25th), the 25th is closed.
    assert hours(windows, "CME", dt.date(2026, 12, 25)) == ["00:00-03:00"]
    assert hours(windows, "CME", dt.date(2026, 12, 28)) == ["08:00-24:00"]


def test_dst_switch_days(windows: SessionWindows) -> None:
    # US clocks go forward on Sunday 2026-03-08: the week before closes at 07:00 Seoul (CST), the
    # week after opens at 07:00 Seoul (CDT), the break moves an hour earlier.
    assert hours(windows, "CME", dt.date(2026, 3, 7)) == ["00:00-07:00"]
    assert hours(windows, "CME", dt.date(2026, 3, 9)) == ["07:00-24:00"]
    assert hours(windows, "CME", dt.date(2026, 3, 10)) == ["00:00-06:00", "07:00-24:00"]
    # And back on Sunday 2026-11-01.
    assert hours(windows, "CME", dt.date(2026, 10, 31)) == ["00:00-06:00"]
    assert hours(windows, "CME", dt.date(2026, 11, 2)) == ["08:00-24:00"]
    # Eurex follows Frankfurt: 01:10 CET is 09:10 Seoul, 01:10 CEST (from 2026-03-29) 08:10.
    assert hours(windows, "EUREX", dt.date(2026, 3, 27))[-1] == "09:10-24:00"
    assert hours(windows, "EUREX", dt.date(2026, 3, 30))[-1] == "08:10-24:00"


def test_krx_hours_holidays_and_late_days(windows: SessionWindows) -> None:
    assert hours(windows, "kospi", WINTER) == hours(windows, "kosdaq", WINTER) == ["09:00-15:20"]
    assert hours(windows, "kfutures", WINTER) == hours(windows, "koptions", WINTER) == ["08:45-15:35"]
    for holiday in (dt.date(2026, 12, 25), dt.date(2026, 9, 24), dt.date(2026, 12, 31)):
        assert hours(windows, "kospi", holiday) == hours(windows, "kfutures", holiday) == [], holiday
        assert not windows.is_open("kospi", seoul_ns(holiday, dt.time(10, 0)))
    assert hours(windows, "kospi", dt.date(2026, 12, 5)) == []  # a Saturday
    # The year's first session and the 수능 open an hour late (the 수능 also closes an hour late).
    assert hours(windows, "kospi", dt.date(2027, 1, 4)) == ["10:00-15:20"]
    assert hours(windows, "kfutures", dt.date(2027, 1, 4)) == ["09:45-15:35"]
    assert hours(windows, "kospi", dt.date(2026, 11, 19)) == ["10:00-16:20"]
    assert hours(windows, "koptions", dt.date(2026, 11, 19)) == ["09:45-16:35"]


def test_hkex_and_sgx_hours(windows: SessionWindows) -> None:
    # HKFE: 09:15-12:00, 13:00-16:30, after hours 17:15-03:00 Hong Kong (UTC+8, no DST).
    assert hours(windows, "HKEX", WINTER) == [
        "00:00-04:00",
        "10:15-13:00",
        "14:00-17:30",
        "18:15-24:00",
    ]
    # 1 July (HKSAR Establishment Day) is closed: only the 30 June after-hours session runs into it.
    assert hours(windows, "HKEX", SUMMER) == ["00:00-04:00"]
    assert hours(windows, "HKEX", dt.date(2026, 7, 2)) == hours(windows, "HKEX", WINTER)[1:]
    # Christmas Eve is a half day (morning only, no after-hours); Christmas is closed.
    assert hours(windows, "HKEX", dt.date(2026, 12, 24)) == ["00:00-04:00", "10:15-13:30"]
    assert hours(windows, "HKEX", dt.date(2026, 12, 25)) == []
    # SGX Nikkei: T 07:30-14:30, T+1 15:15-05:15 Singapore (UTC+8).
    assert hours(windows, "SGX", WINTER) == ["00:00-06:15", "08:30-15:30", "16:15-24:00"]
    # Osaka: day 08:45-15:45, night 17:00-06:00, Tokyo time = Seoul time.
    assert hours(windows, "OSE", WINTER) == ["00:00-06:00", "08:45-15:45", "17:00-24:00"]


def test_exchange_codes_map_to_groups() -> None:
    for code in ("CME", "CBOT", "NYMEX", "COMEX", "cme "):
        assert exchange_group(code) == ("CME", True)
    assert exchange_group("HKEX") == ("HKEX", True) and exchange_group("SGX") == ("SGX", True)
    assert exchange_group("EUREX") == ("EUREX", True) and exchange_group("OSE") == ("OSE", True)
    assert exchange_group("LME") == ("CME", False)  # unknown: the CME rule, and the caller warns
    assert all(exchange_group(e)[1] for e in KNOWN_PRODUCTS.values())
    assert group_of("kospi", "005930", {}) == "kospi"
    assert group_of("ofutures", "HSIZ26", {"HSIZ26": "HKEX"}) == "HKEX"
    assert group_of("ooptions", "2ESZ26_6800", {}) == "CME"
    assert group_of("all", "0", {}) is None  # JIF trades nothing


def test_master_hours_follow_daylight_saving() -> None:
    assert master_hours("CME", WINTER) == ("080000", "070000")
    assert master_hours("CME", SUMMER) == ("070000", "060000")
    assert master_hours("HKEX", WINTER) == ("101500", "040000")
    assert master_hours("SGX", WINTER) == ("083000", "061500")


def test_windows_are_plain_data_and_answer_outside_their_span() -> None:
    w = session_windows(WINTER, WINTER, ["CME", "kospi"])
    assert set(w.windows) == {"CME", "kospi"}
    back = msgspec.json.decode(msgspec.json.encode(w), type=SessionWindows)
    assert back == w
    assert w.is_open("kospi", seoul_ns(WINTER, dt.time(10))) is True
    assert w.is_open("kospi", seoul_ns(WINTER + dt.timedelta(days=1), dt.time(10))) is None  # not covered
    assert w.is_open("HKEX", seoul_ns(WINTER, dt.time(11))) is None  # not asked for
    status = MarketStatus(w)
    assert status.is_open("kospi", seoul_ns(WINTER + dt.timedelta(days=1), dt.time(3)))  # unknown: watched
    assert not status.is_open("all", seoul_ns(WINTER, dt.time(10)))
    assert MarketStatus().is_open("CME", seoul_ns(WINTER, dt.time(7, 30)))  # no windows: watched
    with pytest.raises(ValueError, match="unknown session group"):
        session_windows(WINTER, WINTER, ["NASDAQ"])
    assert set(EXCHANGE_HOURS) >= {"kospi", "CME", "HKEX", "SGX", "EUREX", "OSE"}


def test_a_worker_process_never_loads_exchange_calendars() -> None:
    code = (
        "import sys, datetime as dt\n"
        "import gatherer.run.worker_main, gatherer.run.worker\n"
        "from gatherer.venues.ls.hours import SessionWindows\n"
        "from gatherer.venues.ls.sessions import MarketStatus\n"
        "MarketStatus(SessionWindows(0, 10, {'CME': [(0, 5)]})).any_open(['CME'], 3)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'exchange_calendars'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def _frame(jangubun: str, jstatus: str) -> bytes:
    body = {"jangubun": jangubun, "jstatus": jstatus}
    return msgspec.json.encode({"header": {"tr_cd": "JIF", "tr_key": "0"}, "body": body})


def test_ls_example_frame_is_read_and_names_no_market_of_ours() -> None:
    example = ls_example("JIF")
    payload = json.dumps(example["response"], ensure_ascii=False).encode()
    assert read_jif(payload) == ("C", "21")  # 홍콩주식오전, 장시작
    assert jif_verdict("C", "21") == "trading"
    status = MarketStatus(session_windows(WED, WED))
    assert status.note_jif("C", "21", seoul_ns(WED, dt.time(10, 0))) == ()  # Hong Kong: none of ours
    assert status.said("kospi", seoul_ns(WED, dt.time(10, 0))) is None


def test_only_jif_data_frames_are_read() -> None:
    ack = b'{"header":{"tr_cd":"JIF","tr_key":"0","rsp_cd":"00000","rsp_msg":"ok"},"body":null}'
    assert read_jif(ack) is None
    assert read_jif(b'{"header":{"tr_cd":"S3_","tr_key":"005930"},"body":{"hname":"JIF"}}') is None
    assert read_jif(b'{"header":{"tr_cd":"JIF"},"body":"not an object"}') is None
    assert read_jif(b'{"header":{"tr_cd":"JIF"') is None  # cut short
    assert read_jif(_frame("1", "41")) == ("1", "41")


def test_jstatus_codes_map_to_trading_quiet_or_closed() -> None:
    for jangubun in ("1", "2", "5"):
        assert jif_verdict(jangubun, "11") == "quiet"  # 장전동시호가개시
        assert jif_verdict(jangubun, "21") == "trading"  # 장시작
        assert jif_verdict(jangubun, "31") == "quiet"  # 장후동시호가개시
        assert jif_verdict(jangubun, "41") == "closed"  # 장마감
        assert jif_verdict(jangubun, "62") == "quiet"  # 서킷브레이크 해제, 호가접수개시: an auction
        assert jif_verdict(jangubun, "63") == "trading"  # the auction after the halt is over
        for countdown in ("22", "23", "24", "25", "42", "43", "44", "A2", "D4"):
            assert jif_verdict(jangubun, countdown) is None, countdown
    # The same code means different things by market: 61 halts stocks, ends the day for derivatives.
    assert jif_verdict("1", "61") == "quiet" and jif_verdict("2", "61") == "quiet"
    assert jif_verdict("5", "61") == "closed"
    assert jif_verdict("1", "69") == "closed"  # 서킷브레이크3단계발동, 당일 장종료
    assert jif_verdict("1", "70") == "quiet"  # 서킷브레이크2단계해제, 호가접수개시
    assert jif_verdict("5", "70") is None  # 2단계상한가, 5분 후 확대 예정: trading goes on
    for sidecar in ("64", "65", "66", "67"):
        assert jif_verdict("1", sidecar) is None  # program trading pauses, the market does not
    assert jif_verdict("1", "99") is None


def test_market_status_puts_jif_over_the_calendar_for_the_day() -> None:
    status = MarketStatus(session_windows(WED, THU), quiet_max_s=3600)

    def at(day: dt.date, h: int, m: int) -> int:
        return seoul_ns(day, dt.time(h, m))

    assert status.is_open("kospi", at(WED, 10, 0))  # the calendar, no JIF yet
    assert status.note_jif("1", "11", at(WED, 9, 0)) == ("kospi",)  # a late opening auction
    assert not status.is_open("kospi", at(WED, 9, 30)) and status.is_open("kosdaq", at(WED, 9, 30))
    assert status.is_open("kospi", at(WED, 10, 1))  # a quiet verdict is trusted for an hour only
    status.note_jif("1", "21", at(WED, 9, 45))
    assert status.is_open("kospi", at(WED, 20, 0))  # JIF says it trades: watched despite the calendar
    status.note_jif("1", "64", at(WED, 10, 0))  # a sidecar changes nothing
    assert status.said("kospi", at(WED, 10, 0)) == "trading"
    status.note_jif("1", "41", at(WED, 15, 30))
    assert status.said("kospi", at(WED, 23, 0)) == "closed"  # closed holds for the rest of the day
    assert status.said("kospi", at(THU, 10, 0)) is None and status.is_open("kospi", at(THU, 10, 0))
    status.note_jif("5", "21", at(THU, 8, 45))
    assert status.said("kfutures", at(THU, 9, 0)) == status.said("koptions", at(THU, 9, 0)) == "trading"
    status.forget()  # the connection holding JIF dropped: transitions may have been missed
    assert status.said("kfutures", at(THU, 9, 0)) is None


def test_the_simulators_products_trade_where_the_known_table_says() -> None:
    from gatherer.sim.universe import build_universe, o3101_rows

    universe = build_universe(0, as_of=WED)
    assert {code: p.exch for code, p in universe.products.items()} == dict(KNOWN_PRODUCTS)
    for row in o3101_rows(universe):
        group, known = exchange_group(str(row["ExchCd"]))
        assert known
        assert (row["DlStrtTm"], row["DlEndTm"]) == master_hours(group, universe.as_of)
