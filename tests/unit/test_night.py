"""The KRX night session's rules, stated literally: which evenings hold one, which trading date its
rows take (the next KRX session after the evening), its hours, what the config accepts and what
the selection registers (DH0/DC0 for the day selection's codes t8455 lists)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from gatherer.clock import SEOUL, seoul_ns
from gatherer.config import parse_config
from gatherer.errors import ConfigError
from gatherer.plan.select import night_master_key, select_with_notes
from gatherer.venues.ls.hours import day_windows, seoul_text, session_windows
from gatherer.venues.ls.night import (
    derivative_market,
    held,
    night_date,
    night_sessions,
    night_trading_day,
    night_trading_days,
)

D = dt.date.fromisoformat


@pytest.mark.parametrize(
    ("evening", "trading_date"),
    [
        ("2026-12-01", "2026-12-02"),  # Tuesday -> Wednesday
        ("2026-12-04", "2026-12-07"),  # Friday -> Monday
        ("2026-12-24", "2026-12-28"),  # Thursday before Christmas (a Friday holiday) -> Monday
        ("2026-12-25", "2026-12-28"),  # the holiday itself (no session held; a stray frame's date)
        ("2026-12-30", "2027-01-04"),  # the year's last session -> the first of the next
    ],
)
def test_a_night_session_is_dated_the_next_krx_session(evening: str, trading_date: str) -> None:
    assert night_date(D(evening)) == D(trading_date)
    # A frame at 02:00 the next morning belongs to the same evening (its 07:30 journal day).
    two_am = seoul_ns(D(evening) + dt.timedelta(days=1), dt.time(2, 0))
    assert night_trading_day(two_am) == D(trading_date)
    assert (
        night_trading_days([two_am, seoul_ns(D(evening), dt.time(18, 0))])
        == [(D(trading_date) - dt.date(1970, 1, 1)).days] * 2
    )


def test_held_on_session_evenings_and_not_ahead_of_a_long_holiday() -> None:
    sessions = night_sessions(2026)
    assert held(D("2026-12-24"), sessions)  # 4 days to the next session: held
    assert not held(D("2026-12-25"), sessions)  # a KRX holiday: none
    assert not held(D("2026-12-26"), sessions)  # a Saturday
    assert not held(D("2026-12-30"), sessions)  # 5 days to 2027-01-04: closed ahead of it


def test_night_hours_are_18_to_06_on_held_evenings() -> None:
    w = session_windows(D("2026-12-23"), D("2026-12-31"), ["knight"])
    assert [(seoul_text(a), seoul_text(b)) for a, b in w.windows["knight"]] == [
        ("2026-12-23T00:00:00+09:00", "2026-12-23T06:00:00+09:00"),  # the evening of the 22nd, clipped
        ("2026-12-23T18:00:00+09:00", "2026-12-24T06:00:00+09:00"),
        ("2026-12-24T18:00:00+09:00", "2026-12-25T06:00:00+09:00"),
        ("2026-12-28T18:00:00+09:00", "2026-12-29T06:00:00+09:00"),
        ("2026-12-29T18:00:00+09:00", "2026-12-30T06:00:00+09:00"),
    ]
    assert day_windows(w, "knight", D("2026-12-26")) == []
    at = dt.datetime(2026, 12, 25, 3, 0, tzinfo=SEOUL)
    assert w.is_open("knight", int(at.timestamp()) * 1_000_000_000)


def test_the_code_says_future_or_option() -> None:
    assert [derivative_market(c) for c in ("A0166000", "101W6000", "B0168872", "C0168872", "201W6270")] == [
        "kfutures",
        "kfutures",
        "koptions",
        "koptions",
        "koptions",
    ]


def test_sessions_setting_is_checked() -> None:
    cfg = parse_config('[markets.kfutures]\nsessions = ["day", "night"]\n')
    assert cfg.markets["kfutures"].sessions == ["day", "night"]
    for text, said in (
        ('[markets.kospi]\nsessions = ["night"]\n', "only kfutures, koptions have a night session"),
        ('[markets.kfutures]\nsessions = ["evening"]\n', 'expected "day", "night" or both'),
        ("[markets.kfutures]\nsessions = []\n", 'expected "day", "night" or both'),
    ):
        with pytest.raises(ConfigError, match=r"markets\.k\w+\.sessions") as info:
            parse_config(text)
        assert said in str(info.value)


def _master(codes: list[str]) -> pa.Table:
    return pa.table({"symbol": codes, "hname": [f"F 26{i + 3:02d}" for i in range(len(codes))]})


def test_night_registers_dh0_dc0_for_the_day_selection_that_t8455_lists() -> None:
    day = _master(["A0163000", "A0166000", "A0169000"])
    night = pa.table({"symbol": ["A0163000", "A0166000"]})
    masters = {"kfutures": day, night_master_key("kfutures"): night}
    both = parse_config('[markets.kfutures]\nsessions = ["day", "night"]\n')
    sel = select_with_notes(both, masters)
    got = {(r.tr_cd, r.symbol) for r in sel.registrations}
    assert got == {(tr, s) for tr in ("FH9", "FC9") for s in day["symbol"].to_pylist()} | {
        (tr, s) for tr in ("DH0", "DC0") for s in ("A0163000", "A0166000")
    }
    assert any("1 selected codes do not trade at night" in n for n in sel.notes)
    only = parse_config('[markets.kfutures]\nsessions = ["night"]\nmax_symbols = 1\nchannels = ["trade"]\n')
    assert [(r.tr_cd, r.symbol) for r in select_with_notes(only, masters).registrations] == [
        ("DC0", "A0163000")
    ]
    with pytest.raises(ConfigError, match="needs the t8455 master"):
        select_with_notes(only, {"kfutures": day})
