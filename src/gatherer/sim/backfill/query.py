"""LS's backfill TRs' requests: an InBlock parsed into a ``Query``, or a ``BackfillRequestError``
naming the field it cannot accept (LS_OPENAPI.md §8.2-8.4).

* t1301 / t8454 (``exchgubun`` K KRX, N NXT, U 통합), 20 rows a page (``STOCK_PAGE_ROWS``);
* t2212 (and its older name t2201, same layout), ~200 rows a page (``DERIV_PAGE_ROWS``);
* o3116 (futures) and o3136 (``mktgb`` F futures, O options), ``readcnt`` rows a page.

Pure: it reads the InBlock and asks the model's instrument lookup, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

STOCK_PAGE_ROWS = 20
"""Rows per t1301/t8454 page (LS's t8454 example page holds 20)."""
DERIV_PAGE_ROWS = 200
"""Rows per t2212/t2201 page (LS's t2212 example is one page of about 200 rows)."""
MAX_READCNT = 9_999
"""o3116/o3136 ``readcnt`` is Number 4."""

BACKFILL_TRS = ("t1301", "t8454", "t2212", "t2201", "o3116", "o3136")

InstrumentFn = Callable[[str, str], object]
"""The model's instrument lookup by (market, symbol); None when unknown."""


class BackfillRequestError(ValueError):
    """An InBlock value a backfill TR does not accept; the message names the field."""


@dataclass(frozen=True, slots=True)
class Query:
    """One backfill request, parsed."""

    tr_cd: str
    market: str
    symbol: str
    view: str
    """Stocks: ``K`` KRX, ``N`` NXT, ``U`` both; ``""`` otherwise."""
    start: str
    """HHMM: only rows at or after this minute; ``""`` = no bound."""
    end: str
    """HHMM: only rows at or before this minute; ``""`` = no bound."""
    min_cvolume: int
    inclusive: bool
    """t2212: rows with ``cvolume >= min_cvolume``; t1301/t8454: ``cvolume > min_cvolume``."""
    rows: int
    """Rows per page."""
    day_offset: int
    """0 today, 1 the previous trading day (o3136 ``gubun=1``)."""
    cts: str | int
    """The InBlock's ``cts_time``/``cts_seq``: ``""``/0 = start from the newest print."""


def _text(block: Mapping[str, object], name: str) -> str:
    value = block.get(name)
    return "" if value is None else str(value).strip()


def _number(tr_cd: str, block: Mapping[str, object], name: str, default: int) -> int:
    value = block.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise BackfillRequestError(f"{tr_cd}InBlock.{name} must be a number, got {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise BackfillRequestError(f"{tr_cd}InBlock.{name} must be a number, got {value!r}") from None


def _hhmm(tr_cd: str, block: Mapping[str, object], name: str) -> str:
    text = _text(block, name)
    if text and not (len(text) == 4 and text.isdigit() and text[:2] <= "23" and text[2:] <= "59"):
        raise BackfillRequestError(f"{tr_cd}InBlock.{name} must be HHMM (4 digits) or empty, got {text!r}")
    return text


def parse_query(tr_cd: str, block: Mapping[str, object], instrument: InstrumentFn) -> Query:
    """The request an InBlock makes; BackfillRequestError names a field it cannot accept."""
    if tr_cd in ("t1301", "t8454"):
        code = _text(block, "shcode")
        market = next((m for m in ("kospi", "kosdaq") if instrument(m, code) is not None), None)
        if market is None:
            raise BackfillRequestError(f"{tr_cd}InBlock.shcode {code!r}: no such KRX stock")
        view = "K"
        if tr_cd == "t8454":
            gubun = _text(block, "exchgubun")
            view = gubun if gubun in ("N", "U") else "K"  # LS: anything else = KRX
        cvol = _number(tr_cd, block, "cvolume", 0)
        start, end = _hhmm(tr_cd, block, "starttime"), _hhmm(tr_cd, block, "endtime")
        cts = _text(block, "cts_time")
        if cts and not (len(cts) in (6, 10) and cts.isdigit()):
            raise BackfillRequestError(f"{tr_cd}InBlock.cts_time must be HHMMSS + 4 digits, got {cts!r}")
        return Query(tr_cd, market, code, view, start, end, cvol, False, STOCK_PAGE_ROWS, 0, cts)
    if tr_cd in ("t2212", "t2201"):
        code = _text(block, "focode")
        market = next((m for m in ("kfutures", "koptions") if instrument(m, code) is not None), None)
        if market is None:
            raise BackfillRequestError(f"{tr_cd}InBlock.focode {code!r}: no such KRX future or option")
        cvol = _number(tr_cd, block, "cvolume", 0)
        start, end = _hhmm(tr_cd, block, "stime"), _hhmm(tr_cd, block, "etime")
        cts = _text(block, "cts_time")
        if cts and not (len(cts) == 10 and cts.isdigit()):
            raise BackfillRequestError(f"{tr_cd}InBlock.cts_time must be 10 digits, got {cts!r}")
        return Query(tr_cd, market, code, "", start, end, cvol, True, DERIV_PAGE_ROWS, 0, cts)
    if tr_cd in ("o3116", "o3136"):
        gubun = _text(block, "gubun") or "0"
        allowed = ("0",) if tr_cd == "o3116" else ("0", "1")
        if gubun not in allowed:
            raise BackfillRequestError(f"{tr_cd}InBlock.gubun must be {' or '.join(allowed)}, got {gubun!r}")
        if tr_cd == "o3136":
            mktgb = _text(block, "mktgb")
            if mktgb not in ("F", "O"):
                raise BackfillRequestError(f"o3136InBlock.mktgb must be F or O, got {mktgb!r}")
            market = "ofutures" if mktgb == "F" else "ooptions"
        else:
            market = "ofutures"
        code = _text(block, "shcode")
        if instrument(market, code) is None:
            what = "overseas future" if market == "ofutures" else "overseas option"
            raise BackfillRequestError(f"{tr_cd}InBlock.shcode {code!r}: no such {what}")
        readcnt = _number(tr_cd, block, "readcnt", 20)
        if not 0 < readcnt <= MAX_READCNT:
            raise BackfillRequestError(f"{tr_cd}InBlock.readcnt must be 1 to {MAX_READCNT}, got {readcnt}")
        cts_seq = _number(tr_cd, block, "cts_seq", 0)
        if cts_seq < 0:
            raise BackfillRequestError(f"{tr_cd}InBlock.cts_seq must not be negative, got {cts_seq}")
        return Query(tr_cd, market, code, "", "", "", 0, True, readcnt, int(gubun), cts_seq)
    raise BackfillRequestError(f"{tr_cd} is not a backfill TR")
