"""Typed symbol masters: one master TR per market, turned into an Arrow table (LS_OPENAPI.md §4).

| market     | TR                                   |
|------------|--------------------------------------|
| `kospi`    | t8436 gubun 1                        |
| `kosdaq`   | t8436 gubun 2                        |
| `kfutures` | t8467 gubun "" (t8432 if refused)    |
| `koptions` | t8433                                |
| `ofutures` | o3101                                |
| `ooptions` | o3121 MktGb O: products, then series |

Columns keep LS's field names. KRW amounts are int64, every other number is a decimal128 at
the field's scale (never float); a value may arrive as a JSON number or a string, and a blank
(``""``, ``" "``) becomes null. Each table adds ``symbol`` (the unpadded code) and ``market``, and
its schema metadata records which TR answered (``tr_cd``). A value that will not convert exactly
raises ``DecodeError`` naming the TR, field and symbol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from gatherer.errors import ApiError, AuthError, DecodeError, RateLimited
from gatherer.venues.ls.night import NIGHT_GUBUN
from gatherer.venues.ls.rest import RestClient

STR = pa.string()
INT = pa.int64()


def dec(scale: int, precision: int = 24) -> pa.Decimal128Type:
    return pa.decimal128(precision, scale)


_T8436: tuple[tuple[str, pa.DataType], ...] = (
    ("hname", STR),
    ("shcode", STR),
    ("expcode", STR),
    ("etfgubun", STR),
    ("uplmtprice", INT),
    ("dnlmtprice", INT),
    ("jnilclose", INT),
    ("memedan", INT),
    ("recprice", INT),
    ("gubun", STR),
    ("bu12gubun", STR),
    ("spac_gubun", STR),
    ("filler", STR),
)
_KFUT: tuple[tuple[str, pa.DataType], ...] = (
    ("hname", STR),
    ("shcode", STR),
    ("expcode", STR),
    ("uplmtprice", dec(2, 12)),
    ("dnlmtprice", dec(2, 12)),
    ("jnilclose", dec(2, 12)),
    ("jnilhigh", dec(2, 12)),
    ("jnillow", dec(2, 12)),
    ("recprice", dec(2, 12)),
)
_T8433: tuple[tuple[str, pa.DataType], ...] = (
    ("hname", STR),
    ("shcode", STR),
    ("expcode", STR),
    ("hprice", dec(2, 12)),
    ("lprice", dec(2, 12)),
    ("jnilclose", dec(2, 12)),
    ("jnilhigh", dec(2, 12)),
    ("jnillow", dec(2, 12)),
    ("recprice", dec(2, 12)),
)
_O3101: tuple[tuple[str, pa.DataType], ...] = (
    ("Symbol", STR),
    ("SymbolNm", STR),
    ("ApplDate", STR),
    ("BscGdsCd", STR),
    ("BscGdsNm", STR),
    ("ExchCd", STR),
    ("ExchNm", STR),
    ("CrncyCd", STR),
    ("NotaCd", STR),
    ("UntPrc", dec(9)),
    ("MnChgAmt", dec(9)),
    ("RgltFctr", dec(10)),
    ("CtrtPrAmt", dec(2)),
    ("GdsCd", STR),
    ("LstngYr", STR),
    ("LstngM", STR),
    ("EcPrc", dec(9)),
    ("DlStrtTm", STR),
    ("DlEndTm", STR),
    ("DlPsblCd", STR),
    ("MgnCltCd", STR),
    ("OpngMgn", dec(2)),
    ("MntncMgn", dec(2)),
    ("OpngMgnR", dec(3, 10)),
    ("MntncMgnR", dec(3, 10)),
    ("DotGb", pa.int32()),
)
_O3121: tuple[tuple[str, pa.DataType], ...] = (
    *_O3101,
    ("XrcPrc", dec(9)),
    ("FdasBasePrc", dec(9)),
    ("OptTpCode", STR),
    ("RgtXrcPtnCode", STR),
    ("Moneyness", STR),
    ("LastSettPtnCode", STR),
    ("OptMinOrcPrc", dec(9)),
    ("OptMinBaseOrcPrc", dec(9)),
)
_T8455: tuple[tuple[str, pa.DataType], ...] = (
    ("hname", STR),
    ("shcode", STR),
    ("expcode", STR),
    ("tradeunit", dec(8, 30)),
    ("atmgb", STR),
)
"""t8455 KRX야간파생 마스터 (LS_OPENAPI.md §5): ``tradeunit`` 거래승수 is 21.8."""

MARKET_FIELDS: Mapping[str, tuple[tuple[str, pa.DataType], ...]] = {
    "kospi": _T8436,
    "kosdaq": _T8436,
    "kfutures": _KFUT,
    "koptions": _T8433,
    "ofutures": _O3101,
    "ooptions": _O3121,
}
"""LS field names and Arrow types per market, in column order (before is_etf/is_etn, symbol, market)."""


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def to_int(value: object) -> int | None:
    """An exact integer from a JSON number or string (``10550``, ``"00001"``); blank -> None."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"boolean {value!r} is not an integer")
    if isinstance(value, int):
        return value
    number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not an integer")
    return int(number)


def to_decimal(value: object, scale: int) -> Decimal | None:
    """An exact decimal at ``scale`` places from a JSON number or string; blank -> None."""
    if _blank(value):
        return None
    if isinstance(value, float):
        raise ValueError(f"float {value!r} would not be exact; parse JSON with parse_float=Decimal")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        scaled = number.quantize(Decimal(1).scaleb(-scale))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a decimal") from exc
    if scaled != number:
        raise ValueError(f"{value!r} has more than {scale} decimal places")
    return scaled


def _converter(kind: pa.DataType) -> Callable[[object], object]:
    if pa.types.is_decimal(kind):
        scale = kind.scale
        return lambda v: to_decimal(v, scale)
    if pa.types.is_integer(kind):
        return to_int
    return lambda v: None if v is None else str(v)


def rows_to_table(
    rows: Sequence[Mapping[str, Any]],
    fields: Sequence[tuple[str, pa.DataType]],
    *,
    tr_cd: str,
    market: str,
    symbol_field: str,
) -> pa.Table:
    """An Arrow table of LS rows with exact types, plus ``symbol`` and ``market`` columns."""
    columns: dict[str, list[object]] = {name: [] for name, _ in fields}
    converters = [(name, _converter(kind)) for name, kind in fields]
    for row in rows:
        for name, convert in converters:
            try:
                columns[name].append(convert(row.get(name)))
            except ValueError as exc:
                raise DecodeError(
                    f"{tr_cd} field {name} of {str(row.get(symbol_field, '?')).strip()!r}: {exc}"
                ) from exc
    arrays = [pa.array(columns[name], type=kind) for name, kind in fields]
    names = [name for name, _ in fields]
    arrays.append(pa.array([str(row.get(symbol_field, "")).strip() for row in rows], type=STR))
    names.append("symbol")
    arrays.append(pa.array([market] * len(rows), type=STR))
    names.append("market")
    table = pa.Table.from_arrays(arrays, names=names)
    return table.replace_schema_metadata({"tr_cd": tr_cd, "market": market})


def _out_rows(bodies: Iterable[Mapping[str, Any]], tr_cd: str) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = []
    for body in bodies:
        block = body.get(f"{tr_cd}OutBlock", [])
        if isinstance(block, dict):
            block = [block]
        rows.extend(r for r in block if isinstance(r, Mapping))
    return rows


def _with_stock_flags(table: pa.Table) -> pa.Table:
    etf = [v == "1" for v in table.column("etfgubun").to_pylist()]
    etn = [v == "2" for v in table.column("etfgubun").to_pylist()]
    at = table.schema.get_field_index("symbol")
    table = table.add_column(at, "is_etf", pa.array(etf, type=pa.bool_()))
    return table.add_column(at + 1, "is_etn", pa.array(etn, type=pa.bool_()))


async def _stocks(client: RestClient, market: str) -> pa.Table:
    gubun = "1" if market == "kospi" else "2"
    rows = _out_rows(await client.call("t8436", {"gubun": gubun}), "t8436")
    table = rows_to_table(rows, _T8436, tr_cd="t8436", market=market, symbol_field="shcode")
    return _with_stock_flags(table)


async def _kfutures(client: RestClient) -> pa.Table:
    """t8467 (2026 layout); the legacy t8432 only when the venue refuses t8467 (DESIGN.md)."""
    try:
        tr_cd, bodies = "t8467", await client.call("t8467", {"gubun": ""})
    except (RateLimited, AuthError):
        raise
    except ApiError:
        tr_cd, bodies = "t8432", await client.call("t8432", {"gubun": ""})
    rows = _out_rows(bodies, tr_cd)
    return rows_to_table(rows, _KFUT, tr_cd=tr_cd, market="kfutures", symbol_field="shcode")


async def _ooptions(client: RestClient) -> pa.Table:
    """o3121 MktGb O: the product list, then every product's series (paced by the rate limiter)."""
    products = _out_rows(await client.call("o3121", {"MktGb": "O", "BscGdsCd": ""}), "o3121")
    codes = [str(p.get("BscGdsCd", "")).strip() for p in products]
    rows: list[Mapping[str, Any]] = []
    for code in (c for c in codes if c):
        series = _out_rows(await client.call("o3121", {"MktGb": "O", "BscGdsCd": code}), "o3121")
        rows.extend(r for r in series if not _blank(r.get("Symbol")))
    table = rows_to_table(rows, _O3121, tr_cd="o3121", market="ooptions", symbol_field="Symbol")
    meta = dict(table.schema.metadata or {})
    meta[b"products"] = ",".join(c for c in codes if c).encode()
    return table.replace_schema_metadata(meta)


async def fetch_master(client: RestClient, market: str) -> pa.Table:
    """The symbol master of one market (``kospi``, ``kosdaq``, ``kfutures``, ``koptions``, ``ofutures``,
    ``ooptions``) as a typed Arrow table."""
    if market in ("kospi", "kosdaq"):
        return await _stocks(client, market)
    if market == "kfutures":
        return await _kfutures(client)
    if market == "koptions":
        rows = _out_rows(await client.call("t8433", {"dummy": ""}), "t8433")
        return rows_to_table(rows, _T8433, tr_cd="t8433", market=market, symbol_field="shcode")
    if market == "ofutures":
        rows = _out_rows(await client.call("o3101", {"gubun": ""}), "o3101")
        return rows_to_table(rows, _O3101, tr_cd="o3101", market=market, symbol_field="Symbol")
    if market == "ooptions":
        return await _ooptions(client)
    raise ValueError(f"unknown market {market!r}; expected one of {', '.join(MARKET_FIELDS)}")


async def fetch_night_master(client: RestClient, market: str) -> pa.Table:
    """The night session's instruments of ``kfutures`` or ``koptions``: t8455 for each of the market's
    ``gubun`` values (``venues.ls.night.NIGHT_GUBUN``), one table with a ``gubun`` column; stored
    as the master ``<market>.night``."""
    rows: list[Mapping[str, Any]] = []
    gubuns: list[str] = []
    for gubun in NIGHT_GUBUN[market]:
        found = _out_rows(await client.call("t8455", {"gubun": gubun}), "t8455")
        rows.extend(found)
        gubuns.extend([gubun] * len(found))
    table = rows_to_table(rows, _T8455, tr_cd="t8455", market=market, symbol_field="shcode")
    return table.append_column("gubun", pa.array(gubuns, type=STR))


__all__ = ["MARKET_FIELDS", "fetch_master", "fetch_night_master", "rows_to_table", "to_decimal", "to_int"]
