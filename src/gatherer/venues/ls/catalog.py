"""The real-time TR field catalog: every WebSocket TR the collector and the simulator speak, as data.

Each ``TrSpec`` is a transcription of one field table in LS_OPENAPI.md §3 (S1 Dec-2025 scrape,
FH9/FC9 from the 2026 scrapes): the body fields in table order with their kind, length and
scale, plus where the TR belongs (market, channel, venue) and how its ``tr_key`` is formed
(§2.3). Decoders, the planner and the simulator all read it; nothing here parses or formats a
frame, and nothing here may change at runtime (the mappings are read-only views).

Kinds: ``int`` exact integer (KRW prices, quantities, counts), ``dec`` decimal with ``scale``
places, ``time`` HHMMSS, ``date`` YYYYMMDD, ``str`` codes, flags and names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Kind = Literal["str", "int", "dec", "time", "date"]
KeyStyle = Literal["stock6", "nxt10", "unified10", "deriv8", "overseas8", "overseas16", "zero"]


@dataclass(frozen=True, slots=True)
class Field:
    """One body field: its LS name, kind and the table's ``len`` ("6.2" -> length 6, scale 2)."""

    name: str
    kind: Kind
    length: int
    scale: int = 0


@dataclass(frozen=True, slots=True)
class TrSpec:
    """One real-time TR as LS documents it."""

    tr_cd: str
    title: str
    """LS's Korean title, e.g. ``KOSPI호가잔량``."""
    channel: str
    """``book``, ``trade``, ``broker``, ``vi``, ``auction`` (expected prices) or ``status``."""
    markets: tuple[str, ...]
    """Market keys whose instruments this TR carries; ``()`` for JIF."""
    venue: str
    """``krx``, ``nxt``, ``unified``, ``overseas`` or ``""`` (JIF)."""
    key_field: str
    """Body field carrying the symbol: ``shcode``, ``futcode``, ``optcode``, ``symbol`` (``""`` for JIF)."""
    key_style: KeyStyle
    fields: tuple[Field, ...]
    """Every field of the table, in table order."""
    layout: str
    """Which documented layout this is: ``2025-12`` (S1) or ``2026`` (FH9/FC9)."""
    session: str = "day"
    """``night`` for the KRX night derivatives session's TRs (DH0/DC0, §3.6); ``day`` otherwise."""

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.tr_cd} has no field {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


# ---------------------------------------------------------------------------------------------
# Table builders. A row written ``nameN (N=1..k)`` in LS's tables expands to name1..namek in place.
# ---------------------------------------------------------------------------------------------


def _f(name: str, kind: Kind, length: int, scale: int = 0) -> tuple[Field, ...]:
    return (Field(name, kind, length, scale),)


def _n(name: str, count: int, kind: Kind, length: int, scale: int = 0) -> tuple[Field, ...]:
    return tuple(Field(f"{name}{i}", kind, length, scale) for i in range(1, count + 1))


def _cat(*parts: Iterable[Field]) -> tuple[Field, ...]:
    return tuple(f for part in parts for f in part)


def _retyped(fields: tuple[Field, ...], changes: Mapping[str, tuple[Kind, int, int]]) -> tuple[Field, ...]:
    out = []
    for f in fields:
        if f.name in changes:
            kind, length, scale = changes[f.name]
            out.append(Field(f.name, kind, length, scale))
        else:
            out.append(f)
    return tuple(out)


# H1_ KOSPI호가잔량 (§3.3); HA_ identical. LS's example lacks the five mid* fields (added after the
# example was captured); the table is followed here.
_H1 = _cat(
    _f("hotime", "time", 6),
    _n("offerho", 10, "int", 7),
    _n("bidho", 10, "int", 7),
    _n("offerrem", 10, "int", 9),
    _n("bidrem", 10, "int", 9),
    _f("totofferrem", "int", 9),
    _f("totbidrem", "int", 9),
    _f("donsigubun", "str", 1),
    _f("shcode", "str", 6),
    _f("alloc_gubun", "str", 1),
    _f("volume", "int", 12),
    _f("midprice", "int", 8),
    _f("offermidsumrem", "int", 9),
    _f("bidmidsumrem", "int", 9),
    _f("midsumrem", "int", 9),
    _f("midsumremgubun", "str", 1),
)

# S3_ KOSPI체결 (§3.3); K3_ identical.
_S3 = _cat(
    _f("chetime", "time", 6),
    _f("sign", "str", 1),
    _f("change", "int", 8),
    _f("drate", "dec", 6, 2),
    _f("price", "int", 8),
    _f("opentime", "time", 6),
    _f("open", "int", 8),
    _f("hightime", "time", 6),
    _f("high", "int", 8),
    _f("lowtime", "time", 6),
    _f("low", "int", 8),
    _f("cgubun", "str", 1),
    _f("cvolume", "int", 8),
    _f("volume", "int", 12),
    _f("value", "int", 12),
    _f("mdvolume", "int", 12),
    _f("mdchecnt", "int", 8),
    _f("msvolume", "int", 12),
    _f("mschecnt", "int", 8),
    _f("cpower", "dec", 9, 2),
    _f("w_avrg", "int", 8),
    _f("offerho", "int", 8),
    _f("bidho", "int", 8),
    _f("status", "str", 2),
    _f("jnilvolume", "int", 12),
    _f("shcode", "str", 6),
    _f("exchname", "str", 3),
)

# K1_ KOSPI거래원 (§3.3); OK_ identical. Member codes are 3-digit strings ("017"), names 6 bytes.
_K1 = _cat(
    _n("offerno", 5, "str", 3),
    _n("bidno", 5, "str", 3),
    _n("offertrad", 5, "str", 6),
    _n("bidtrad", 5, "str", 6),
    _n("tradmdvol", 5, "int", 10),
    _n("tradmsvol", 5, "int", 10),
    _n("tradmdrate", 5, "dec", 6, 2),
    _n("tradmsrate", 5, "dec", 6, 2),
    _n("tradmdcha", 5, "int", 10),
    _n("tradmscha", 5, "int", 10),
    _f("ftradmdvol", "int", 10),
    _f("ftradmsvol", "int", 10),
    _f("ftradmdrate", "dec", 6, 2),
    _f("ftradmsrate", "dec", 6, 2),
    _f("ftradmdcha", "int", 10),
    _f("ftradmscha", "int", 10),
    _f("shcode", "str", 6),
    _n("tradmdval", 5, "int", 15),
    _n("tradmsval", 5, "int", 15),
    _n("tradmdavg", 5, "int", 7),
    _n("tradmsavg", 5, "int", 7),
    _f("ftradmdval", "int", 15),
    _f("ftradmsval", "int", 15),
    _f("ftradmdavg", "int", 7),
    _f("ftradmsavg", "int", 7),
)

# NXT / 통합 variants (§3.4): shcode widens to 9, ex_shcode (10) is the venue-prefixed code.
_WIDE_SHCODE: Mapping[str, tuple[Kind, int, int]] = {"shcode": ("str", 9, 0)}
_EX_SHCODE = _f("ex_shcode", "str", 10)
_NH1 = _cat(_retyped(_H1, _WIDE_SHCODE), _EX_SHCODE)
# NS3: S1's table has no `high` row and types `hightime` Number 8 (the `high` row mislabelled); LS's
# example carries both, so the S3_ list (with `high`) is used.
_NS3 = _cat(_retyped(_S3, _WIDE_SHCODE), _EX_SHCODE)
_NK1 = _cat(_retyped(_K1, _WIDE_SHCODE), _f("time", "time", 6), _f("exchname", "str", 3), _EX_SHCODE)

# UH1 (통합)호가잔량 (§3.4): one price ladder, quantities per venue.
_UH1 = _cat(
    _f("hotime", "time", 6),
    _n("offerho", 10, "int", 7),
    _n("bidho", 10, "int", 7),
    _n("krx_offerrem", 10, "int", 9),
    _n("nxt_offerrem", 10, "int", 9),
    _n("unt_offerrem", 10, "int", 9),
    _n("krx_bidrem", 10, "int", 9),
    _n("nxt_bidrem", 10, "int", 9),
    _n("unt_bidrem", 10, "int", 9),
    _f("krx_totofferrem", "int", 9),
    _f("nxt_totofferrem", "int", 9),
    _f("unt_totofferrem", "int", 9),
    _f("krx_totbidrem", "int", 9),
    _f("nxt_totbidrem", "int", 9),
    _f("unt_totbidrem", "int", 9),
    _f("krx_donsigubun", "str", 1),
    _f("nxt_donsigubun", "str", 1),
    _f("shcode", "str", 9),
    _f("alloc_gubun", "str", 1),
    _f("volume", "int", 12),
    _f("krx_midprice", "int", 8),
    _f("krx_offermidsumrem", "int", 9),
    _f("krx_bidmidsumrem", "int", 9),
    _f("nxt_midprice", "int", 8),
    _f("nxt_offermidsumrem", "int", 9),
    _f("nxt_bidmidsumrem", "int", 9),
    _f("krx_midsumrem", "int", 9),
    _f("krx_midsumremgubun", "str", 1),
    _f("nxt_midsumrem", "int", 9),
    _f("nxt_midsumremgubun", "str", 1),
    _EX_SHCODE,
)

# VI_ VI발동해제 (§3.5). LS's example lacks `exchname`.
_VI = _cat(
    _f("vi_gubun", "str", 1),
    _f("svi_recprice", "int", 8),
    _f("dvi_recprice", "int", 8),
    _f("vi_trgprice", "int", 8),
    _f("shcode", "str", 6),
    _f("ref_shcode", "str", 6),
    _f("time", "time", 6),
    _f("exchname", "str", 3),
)

# NVI (NXT) VI (§3.5): VI_'s list with shcode 9 and ex_shcode; UVI (통합) one row per symbol with
# each venue's five VI fields side by side.
_NVI = _cat(_retyped(_VI, _WIDE_SHCODE), _EX_SHCODE)


def _vi_side(venue: str) -> tuple[Field, ...]:
    return _cat(
        _f(f"{venue}_vi_gubun", "str", 1),
        _f(f"{venue}_svi_recprice", "int", 8),
        _f(f"{venue}_dvi_recprice", "int", 8),
        _f(f"{venue}_vi_trgprice", "int", 8),
        _f(f"{venue}_time", "time", 6),
    )


_UVI = _cat(
    _vi_side("krx"),
    _vi_side("nxt"),
    _f("shcode", "str", 9),
    _f("ref_shcode", "str", 9),
    _f("exchname", "str", 3),
    _EX_SHCODE,
)

# YS3 KOSPI예상체결 (§3.5); YK3 identical. LS's examples lack `exchname`.
_YS3 = _cat(
    _f("hotime", "time", 6),
    _f("yeprice", "int", 8),
    _f("yevolume", "int", 12),
    _f("jnilysign", "str", 1),
    _f("jnilchange", "int", 8),
    _f("jnilydrate", "dec", 6, 2),
    _f("yofferho0", "int", 8),
    _f("ybidho0", "int", 8),
    _f("yofferrem0", "int", 12),
    _f("ybidrem0", "int", 12),
    _f("shcode", "str", 6),
    _f("exchname", "str", 3),
)


def _yfc(price_len: int, key: str) -> tuple[Field, ...]:
    """YFC/YF9 지수선물예상체결, YOC 지수옵션예상체결 (§3.6); YF9 (2026) widens prices to 9.2 as FC9."""
    return _cat(
        _f("ychetime", "time", 6),
        _f("yeprice", "dec", price_len, 2),
        _f("jnilysign", "str", 1),
        _f("jnilchange", "dec", price_len, 2),
        _f("jnilydrate", "dec", 6, 2),
        _f(key, "str", 8),
        _f("expct_ccls_q", "int", 9),
    )


# JIF 장운영정보 (§3.1): jangubun market code, jstatus operation code.
_JIF = _cat(_f("jangubun", "str", 1), _f("jstatus", "str", 2))


def _fh(price_len: int, rem_len: int, key: str) -> tuple[Field, ...]:
    """FH0/FH9/OH0 (§3.6): 5-level derivative book."""
    return _cat(
        _f("hotime", "time", 6),
        _n("offerho", 5, "dec", price_len, 2),
        _n("bidho", 5, "dec", price_len, 2),
        _n("offerrem", 5, "int", rem_len),
        _n("bidrem", 5, "int", rem_len),
        _n("offercnt", 5, "int", 5),
        _n("bidcnt", 5, "int", 5),
        _f("totofferrem", "int", rem_len),
        _f("totbidrem", "int", rem_len),
        _f("totoffercnt", "int", 5),
        _f("totbidcnt", "int", 5),
        _f(key, "str", 8),
        _f("danhochk", "str", 1),
        _f("alloc_gubun", "str", 1),
    )


def _fc(price_len: int) -> tuple[Field, ...]:
    """FC0/FC9 (§3.6); FC9 widens the price-type fields to 9.2."""
    p = price_len
    return _cat(
        _f("chetime", "time", 6),
        _f("sign", "str", 1),
        _f("change", "dec", p, 2),
        _f("drate", "dec", 6, 2),
        _f("price", "dec", p, 2),
        _f("open", "dec", p, 2),
        _f("high", "dec", p, 2),
        _f("low", "dec", p, 2),
        _f("cgubun", "str", 1),
        _f("cvolume", "int", 6),
        _f("volume", "int", 12),
        _f("value", "int", 12),
        _f("mdvolume", "int", 12),
        _f("mdchecnt", "int", 8),
        _f("msvolume", "int", 12),
        _f("mschecnt", "int", 8),
        _f("cpower", "dec", 9, 2),
        _f("offerho1", "dec", p, 2),
        _f("bidho1", "dec", p, 2),
        _f("openyak", "int", 8),
        _f("k200jisu", "dec", p, 2),
        _f("theoryprice", "dec", p, 2),
        _f("kasis", "dec", 6, 2),
        _f("sbasis", "dec", p, 2),
        _f("ibasis", "dec", p, 2),
        _f("openyakcha", "int", 8),
        _f("jgubun", "str", 2),
        _f("jnilvolume", "int", 12),
        _f("futcode", "str", 8),
    )


# OC0 KOSPI200옵션체결 (§3.6).
_OC0 = _cat(
    _f("chetime", "time", 6),
    _f("sign", "str", 1),
    _f("change", "dec", 6, 2),
    _f("drate", "dec", 6, 2),
    _f("price", "dec", 6, 2),
    _f("open", "dec", 6, 2),
    _f("high", "dec", 6, 2),
    _f("low", "dec", 6, 2),
    _f("cgubun", "str", 1),
    _f("cvolume", "int", 6),
    _f("volume", "int", 12),
    _f("value", "int", 12),
    _f("mdvolume", "int", 12),
    _f("mdchecnt", "int", 8),
    _f("msvolume", "int", 12),
    _f("mschecnt", "int", 8),
    _f("cpower", "dec", 9, 2),
    _f("offerho1", "dec", 6, 2),
    _f("bidho1", "dec", 6, 2),
    _f("openyak", "int", 8),
    _f("k200jisu", "dec", 6, 2),
    _f("eqva", "dec", 7, 2),
    _f("theoryprice", "dec", 6, 2),
    _f("impv", "dec", 6, 2),
    _f("openyakcha", "int", 8),
    _f("timevalue", "dec", 6, 2),
    _f("jgubun", "str", 2),
    _f("jnilvolume", "int", 12),
    _f("optcode", "str", 8),
)


# DH0 / DC0 KRX야간파생 (§3.6): DH0 is FH0's list exactly; DC0 is FC0's list with `date` first and
# `eqva`, `impv`, `timevalue` (OC0's types) last, so one TR serves night futures and options.
_DH0 = _fh(6, 6, "futcode")
_DC0 = _cat(
    _f("date", "date", 8),
    _fc(6),
    _f("eqva", "dec", 7, 2),
    _f("impv", "dec", 6, 2),
    _f("timevalue", "dec", 6, 2),
)
_DERIVS = ("kfutures", "koptions")


def _ovh(symbol_len: int) -> tuple[Field, ...]:
    """OVH (§3.7); WOH has the same list with a 16-char symbol. offernoN/bidnoN are order counts."""
    return _cat(
        _f("symbol", "str", symbol_len),
        _f("hotime", "time", 6),
        _n("offerho", 5, "dec", 15, 9),
        _n("bidho", 5, "dec", 15, 9),
        _n("offerrem", 5, "int", 10),
        _n("bidrem", 5, "int", 10),
        _n("offerno", 5, "int", 10),
        _n("bidno", 5, "int", 10),
        _f("totoffercnt", "int", 10),
        _f("totbidcnt", "int", 10),
        _f("totofferrem", "int", 10),
        _f("totbidrem", "int", 10),
    )


def _ovc(symbol_len: int) -> tuple[Field, ...]:
    """OVC (§3.7); WOC has the same list with a 16-char symbol. LS's examples lack `ovsmkend`."""
    return _cat(
        _f("symbol", "str", symbol_len),
        _f("ovsdate", "date", 8),
        _f("kordate", "date", 8),
        _f("trdtm", "time", 6),
        _f("kortm", "time", 6),
        _f("curpr", "dec", 15, 9),
        _f("ydiffpr", "dec", 15, 9),
        _f("ydiffSign", "str", 1),
        _f("open", "dec", 15, 9),
        _f("high", "dec", 15, 9),
        _f("low", "dec", 15, 9),
        _f("chgrate", "dec", 6, 2),
        _f("trdq", "int", 10),
        _f("totq", "int", 15),
        _f("cgubun", "str", 1),
        _f("mdvolume", "int", 15),
        _f("msvolume", "int", 15),
        _f("ovsmkend", "date", 8),
    )


_STOCKS = ("kospi", "kosdaq")
_S1 = "2025-12"


def _build() -> dict[str, TrSpec]:
    specs = [
        TrSpec("H1_", "KOSPI호가잔량", "book", ("kospi",), "krx", "shcode", "stock6", _H1, _S1),
        TrSpec("HA_", "KOSDAQ호가잔량", "book", ("kosdaq",), "krx", "shcode", "stock6", _H1, _S1),
        TrSpec("S3_", "KOSPI체결", "trade", ("kospi",), "krx", "shcode", "stock6", _S3, _S1),
        TrSpec("K3_", "KOSDAQ체결", "trade", ("kosdaq",), "krx", "shcode", "stock6", _S3, _S1),
        TrSpec("K1_", "KOSPI거래원", "broker", ("kospi",), "krx", "shcode", "stock6", _K1, _S1),
        TrSpec("OK_", "KOSDAQ거래원", "broker", ("kosdaq",), "krx", "shcode", "stock6", _K1, _S1),
        TrSpec("NH1", "(NXT)호가잔량", "book", _STOCKS, "nxt", "shcode", "nxt10", _NH1, _S1),
        TrSpec("NS3", "(NXT)체결", "trade", _STOCKS, "nxt", "shcode", "nxt10", _NS3, _S1),
        TrSpec("NK1", "(NXT)거래원", "broker", _STOCKS, "nxt", "shcode", "nxt10", _NK1, _S1),
        TrSpec("UH1", "(통합)호가잔량", "book", _STOCKS, "unified", "shcode", "unified10", _UH1, _S1),
        TrSpec("US3", "(통합)체결", "trade", _STOCKS, "unified", "shcode", "unified10", _NS3, _S1),
        TrSpec("UK1", "(통합)거래원", "broker", _STOCKS, "unified", "shcode", "unified10", _NK1, _S1),
        TrSpec("VI_", "VI발동해제", "vi", _STOCKS, "krx", "shcode", "stock6", _VI, _S1),
        TrSpec("NVI", "(NXT)VI발동해제", "vi", _STOCKS, "nxt", "shcode", "nxt10", _NVI, _S1),
        TrSpec("UVI", "(통합)VI발동해제", "vi", _STOCKS, "unified", "shcode", "unified10", _UVI, _S1),
        TrSpec("YS3", "KOSPI예상체결", "auction", ("kospi",), "krx", "shcode", "stock6", _YS3, _S1),
        TrSpec("YK3", "KOSDAQ예상체결", "auction", ("kosdaq",), "krx", "shcode", "stock6", _YS3, _S1),
        TrSpec(
            "YF9",
            "지수선물예상체결",
            "auction",
            ("kfutures",),
            "krx",
            "futcode",
            "deriv8",
            _yfc(9, "futcode"),
            "2026",
        ),
        TrSpec(
            "YOC",
            "지수옵션예상체결",
            "auction",
            ("koptions",),
            "krx",
            "optcode",
            "deriv8",
            _yfc(6, "optcode"),
            _S1,
        ),
        TrSpec("JIF", "장운영정보", "status", (), "", "", "zero", _JIF, _S1),
        TrSpec(
            "FH0",
            "KOSPI200선물호가",
            "book",
            ("kfutures",),
            "krx",
            "futcode",
            "deriv8",
            _fh(6, 6, "futcode"),
            _S1,
        ),
        TrSpec("FC0", "KOSPI200선물체결", "trade", ("kfutures",), "krx", "futcode", "deriv8", _fc(6), _S1),
        TrSpec(
            "FH9",
            "KOSPI200선물호가",
            "book",
            ("kfutures",),
            "krx",
            "futcode",
            "deriv8",
            _fh(9, 6, "futcode"),
            "2026",
        ),
        TrSpec("FC9", "KOSPI200선물체결", "trade", ("kfutures",), "krx", "futcode", "deriv8", _fc(9), "2026"),
        TrSpec(
            "OH0",
            "KOSPI200옵션호가",
            "book",
            ("koptions",),
            "krx",
            "optcode",
            "deriv8",
            _fh(6, 7, "optcode"),
            _S1,
        ),
        TrSpec("OC0", "KOSPI200옵션체결", "trade", ("koptions",), "krx", "optcode", "deriv8", _OC0, _S1),
        TrSpec("DH0", "KRX야간파생 호가", "book", _DERIVS, "krx", "futcode", "deriv8", _DH0, _S1, "night"),
        TrSpec("DC0", "KRX야간파생 체결", "trade", _DERIVS, "krx", "futcode", "deriv8", _DC0, _S1, "night"),
        TrSpec(
            "OVH", "해외선물 호가", "book", ("ofutures",), "overseas", "symbol", "overseas8", _ovh(8), _S1
        ),
        TrSpec(
            "OVC", "해외선물 체결", "trade", ("ofutures",), "overseas", "symbol", "overseas8", _ovc(8), _S1
        ),
        TrSpec(
            "WOH", "해외옵션 호가", "book", ("ooptions",), "overseas", "symbol", "overseas16", _ovh(16), _S1
        ),
        TrSpec(
            "WOC", "해외옵션 체결", "trade", ("ooptions",), "overseas", "symbol", "overseas16", _ovc(16), _S1
        ),
    ]
    return {s.tr_cd: s for s in specs}


CATALOG: Mapping[str, TrSpec] = MappingProxyType(_build())
"""Every real-time TR by its code."""


def spec(tr_cd: str) -> TrSpec:
    """The catalog entry for a TR code; KeyError naming the known codes otherwise."""
    try:
        return CATALOG[tr_cd]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise KeyError(f"unknown real-time TR {tr_cd!r}; known: {known}") from None


MARKET_CHANNELS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "kospi": MappingProxyType({"book": "H1_", "trade": "S3_", "broker": "K1_"}),
        "kosdaq": MappingProxyType({"book": "HA_", "trade": "K3_", "broker": "OK_"}),
        "kfutures": MappingProxyType({"book": "FH9", "trade": "FC9"}),
        "koptions": MappingProxyType({"book": "OH0", "trade": "OC0"}),
        "ofutures": MappingProxyType({"book": "OVH", "trade": "OVC"}),
        "ooptions": MappingProxyType({"book": "WOH", "trade": "WOC"}),
    }
)
"""market -> channel -> the TR that carries it by default (DESIGN.md market table)."""

NIGHT_CHANNELS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "kfutures": MappingProxyType({"book": "DH0", "trade": "DC0"}),
        "koptions": MappingProxyType({"book": "DH0", "trade": "DC0"}),
    }
)
"""market -> channel -> the TR of the KRX night session (``sessions = ["night"]``, §3.6)."""

SESSIONS: tuple[str, ...] = ("day", "night")
"""The values of ``[markets.<m>] sessions``; night only where ``NIGHT_CHANNELS`` has the market."""

LEGACY: Mapping[str, str] = MappingProxyType({"FH9": "FH0", "FC9": "FC0"})
"""2026 TR -> the Dec-2025 TR to fall back to when the venue rejects the new code (§3.2)."""

ALL_SYMBOLS = "000000"
"""The symbol of a VI registration for every stock (``tr_key`` ``000000``; NVI/UVI ``0000000000``)."""
