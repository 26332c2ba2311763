"""``tr_key`` formatting per TR family (LS_OPENAPI.md §2.3), and its inverse.

The venue matches unsubscribes and echoes data-frame headers by the exact key string,
padding included, so every subscription key is built here and nowhere else. A symbol
that does not fit its family's form is refused with ValueError naming the TR, the
symbol and the expected form: LS silently accepts some malformed keys and then sends
nothing (§2.3, US3 with a plain code), so a wrong key must fail loudly before it is sent.
"""

from __future__ import annotations

from gatherer.venues.ls.catalog import ALL_SYMBOLS, KeyStyle, spec

_ALL_WIDE = "0" * 10
"""NVI's (and UVI's) key for every stock (LS_OPENAPI.md §2.3); VI_ takes ``000000``."""

_EXPECTED: dict[KeyStyle, str] = {
    "stock6": "a 6-character KRX short code such as '005930'",
    "nxt10": "a 6-character KRX short code; the key is 'N' + code padded with spaces to 10",
    "unified10": "a 6-character KRX short code; the key is 'U' + code padded with spaces to 10",
    "deriv8": "an 8-character KRX derivative code such as 'A0166000' or '101T9000'",
    "overseas8": "an overseas futures symbol of 1-8 characters without spaces, such as 'NQU23'",
    "overseas16": "an overseas options symbol of 1-16 characters without spaces, such as '2ESU23_4400'",
    "zero": "no symbol ('' or '0'); the key is '0'",
}


def _is_code(text: str, width: int) -> bool:
    return len(text) == width and text.isascii() and text.isalnum() and text.upper() == text


def _is_overseas(text: str, width: int) -> bool:
    return 0 < len(text) <= width and text.isascii() and text.isprintable() and " " not in text


def _refuse(tr_cd: str, style: KeyStyle, what: str, value: str) -> ValueError:
    return ValueError(f"{tr_cd}: {what} {value!r} does not fit; expected {_EXPECTED[style]}")


def format_tr_key(tr_cd: str, symbol: str) -> str:
    """The ``tr_key`` to subscribe ``symbol`` on ``tr_cd`` with, padding included."""
    style = spec(tr_cd).key_style
    if style == "stock6" or style == "nxt10" or style == "unified10":
        if not _is_code(symbol, 6):
            raise _refuse(tr_cd, style, "symbol", symbol)
        if style == "stock6":
            return symbol
        if symbol == ALL_SYMBOLS and spec(tr_cd).channel == "vi":
            return _ALL_WIDE
        return ("N" if style == "nxt10" else "U") + symbol + "   "
    if style == "deriv8":
        if not _is_code(symbol, 8):
            raise _refuse(tr_cd, style, "symbol", symbol)
        return symbol
    if style == "overseas8" or style == "overseas16":
        width = 8 if style == "overseas8" else 16
        if not _is_overseas(symbol, width):
            raise _refuse(tr_cd, style, "symbol", symbol)
        return symbol.ljust(width)
    if symbol not in ("", "0"):
        raise _refuse(tr_cd, style, "symbol", symbol)
    return "0"


def symbol_of(tr_cd: str, tr_key: str) -> str:
    """The symbol a ``tr_key`` names: padding and the NXT/통합 prefix removed.

    The JIF key ``"0"`` names no symbol and maps to ``"0"``.
    """
    style = spec(tr_cd).key_style
    if style == "nxt10" or style == "unified10":
        prefix = "N" if style == "nxt10" else "U"
        if tr_key == _ALL_WIDE and spec(tr_cd).channel == "vi":
            return ALL_SYMBOLS
        code = tr_key.rstrip(" ")
        if len(tr_key) > 10 or not code.startswith(prefix) or not _is_code(code[1:], 6):
            raise _refuse(tr_cd, style, "tr_key", tr_key)
        return code[1:]
    if style == "stock6" or style == "deriv8":
        width = 6 if style == "stock6" else 8
        if not _is_code(tr_key, width):
            raise _refuse(tr_cd, style, "tr_key", tr_key)
        return tr_key
    if style == "overseas8" or style == "overseas16":
        width = 8 if style == "overseas8" else 16
        symbol = tr_key.rstrip(" ")
        if len(tr_key) > width or not _is_overseas(symbol, width):
            raise _refuse(tr_cd, style, "tr_key", tr_key)
        return symbol
    if tr_key != "0":
        raise _refuse(tr_cd, style, "tr_key", tr_key)
    return "0"
