"""``plan.priority.prioritize``: a selection larger than the app keys hold keeps each group's most
traded codes (KOSPI and KOSDAQ ranked together), every channel of a kept code, the same fraction of
each group, and says what it left out and the value share kept."""

from __future__ import annotations

from gatherer.plan.priority import prioritize
from gatherer.plan.select import Registration, Selection


def _sel(market: str, codes: list[str], trs: tuple[str, ...]) -> list[Registration]:
    return [Registration(market, f"c{tr}", tr, c) for tr in trs for c in codes]


def test_keeps_the_most_traded_across_kospi_and_kosdaq_with_all_channels() -> None:
    kospi, kosdaq = ["000001", "000002", "000003"], ["100001", "100002", "100003"]
    sel = Selection(_sel("kospi", kospi, ("H1_", "S3_")) + _sel("kosdaq", kosdaq, ("HA_", "K3_")))
    values = {
        "kospi": {"000001": 5, "000002": 500, "000003": 1},
        "kosdaq": {"100001": 300, "100002": 2, "100003": 192},
    }
    out = prioritize(sel, 6, values)
    assert {(r.market, r.symbol) for r in out.registrations} == {
        ("kospi", "000002"),
        ("kosdaq", "100001"),
        ("kosdaq", "100003"),
    }
    assert len(out.registrations) == 6
    assert [r for r in sel.registrations if r in out.registrations] == out.registrations  # order kept
    (line,) = [n for n in out.notes if "KOSPI+KOSDAQ" in n]
    assert "kept 3 of 6 KOSPI+KOSDAQ codes = 99 % of yesterday's value" in line  # 992 of 1,000
    assert "left out the 3 least traded (6 registrations): 000001, 100002, 000003" in line


def test_each_market_keeps_the_same_share_and_markets_without_values_keep_code_order() -> None:
    futures = [f"A01{i}6000" for i in range(4)]
    stocks = [f"00000{i}" for i in range(8)]
    sel = Selection(_sel("kospi", stocks, ("S3_",)) + _sel("kfutures", futures, ("FC9",)))
    out = prioritize(sel, 6, {"kospi": {s: i for i, s in enumerate(stocks)}})
    kept = [(r.market, r.symbol) for r in out.registrations]
    stocks_kept = [("kospi", s) for s in ("000004", "000005", "000006", "000007")]  # the most traded
    assert kept == [*stocks_kept, ("kfutures", futures[0]), ("kfutures", futures[1])]
    assert any(n.startswith("KFUTURES: kept 2 of 4 codes in code order") for n in out.notes)


def test_a_selection_that_fits_is_untouched() -> None:
    sel = Selection(_sel("kospi", ["000001"], ("S3_",)), ["a note"])
    assert prioritize(sel, 1, {}) is sel
