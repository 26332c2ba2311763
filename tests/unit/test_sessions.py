"""JIF (장운영정보) codes to trading/quiet/closed, and MarketStatus on top of the calendar."""

from __future__ import annotations

import datetime as dt
import json

import msgspec

from gatherer.clock import seoul_ns
from gatherer.venues.ls.sessions import MarketStatus, SessionCalendar, jif_verdict, read_jif

from ..conftest import ls_example

WED = dt.date(2026, 11, 25)
THU = dt.date(2026, 11, 26)


def _frame(jangubun: str, jstatus: str) -> bytes:
    body = {"jangubun": jangubun, "jstatus": jstatus}
    return msgspec.json.encode({"header": {"tr_cd": "JIF", "tr_key": "0"}, "body": body})


def test_ls_example_frame_is_read_and_names_no_market_of_ours() -> None:
    example = ls_example("JIF")
    payload = json.dumps(example["response"], ensure_ascii=False).encode()
    assert read_jif(payload) == ("C", "21")  # 홍콩주식오전, 장시작
    assert jif_verdict("C", "21") == "trading"
    status = MarketStatus(SessionCalendar(krx_sessions=[WED]))
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
    status = MarketStatus(SessionCalendar(krx_sessions=[WED, THU]), quiet_max_s=3600)

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
