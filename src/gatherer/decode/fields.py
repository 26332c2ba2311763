"""Value parsers: one LS body value (a string, LS_OPENAPI.md §2.5) -> an exact typed value or null.

Tolerant where the venue is sloppy, exact always:

- ``None`` (field missing or JSON null), ``""`` and any all-blank string (``" "``) -> ``None``.
- Numbers may be zero-padded (``"0000143169"``), signed (``"+123"``, ``"-00000076196"``,
  ``"-0.31"``) and surrounded by blanks.
- LS's overseas examples print prices as ``"0. 14997.75"`` / ``"0.    46.25"`` (§2.5, §3.7). The last
  numeric token is the value, but only when every token before it is a zero (``"0."``, ``"0"``):
  ``"5. 14997.75"`` is refused rather than silently losing the ``5``. Both LS examples fit ``"0."``
  + the value right-aligned in 9 characters, so a value of 9+ characters leaves no blank
  (``"0.112.531250"``): ``"0."`` glued to a 9+ character number that has its own point is read the
  same way (a shorter value would have been padded, so ``"0.0.1"`` is refused).
- Decimals are returned as *scaled integers* (``"346.2"`` with scale 2 -> ``34620``), so nothing
  passes through a binary float. More decimal places than the field's scale is an error, never
  rounded. Integers must fit int64; decimals must fit the column's precision.
- JSON numbers are tolerated (LS's REST side mixes them in, §1.3): ``int`` for numeric fields,
  ``Decimal`` (the JSON decoder's float hook) for decimals, and formatted back for string fields.

Every failure raises ``BadValue``; the decoder turns it into a quarantine entry naming the field.
Nothing here knows about frames or TRs.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache

from gatherer.errors import DecodeError

INT64_MAX = 2**63 - 1
_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_ZERO_TOKEN = re.compile(r"[+-]?0*\.?0*")
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


class BadValue(DecodeError):
    """A body value that does not parse as its field's kind; the message says why."""


def _numeric_text(value: object) -> str | None:
    """The number's text with blanks and the zero-prefix artefact removed; None when blank."""
    if value is None:
        return None
    if value.__class__ is not str:
        raise BadValue(f"expected a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    if not text.isascii():
        raise BadValue("not a number (non-ASCII characters)")
    tokens = text.split()
    if len(tokens) > 1:
        # §2.5: "0. 14997.75" -- take the last token, but only past zero-valued fillers.
        for token in tokens[:-1]:
            if not _ZERO_TOKEN.fullmatch(token) or not any(c == "0" for c in token):
                raise BadValue("not a number (several tokens, and the ones before the last are not zero)")
        text = tokens[-1]
    if text.startswith("0.") and len(text) >= 11 and text.count(".") == 2:
        # The same artefact with a value of 9+ characters: "0." + "112.531250", no blank left. A
        # shorter value would have been padded, so "0.0.1" stays two points and is refused.
        text = text[2:]
    return text


def parse_int(value: object) -> int | None:
    """An int field (KRW price, quantity, count) -> int, or None when blank/missing."""
    if value.__class__ is int:
        number: int = value
    elif isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or exponent < 0:
            raise BadValue("has decimal places; the field is an integer")
        number = int(value)
    else:
        text = _numeric_text(value)
        if text is None:
            return None
        m = _NUMBER.fullmatch(text)
        if m is None or not m.group(2):
            raise BadValue("not an integer")
        if m.group(3) is not None:
            raise BadValue("has decimal places; the field is an integer")
        number = int(m.group(2))
        if m.group(1) == "-":
            number = -number
    if not -INT64_MAX - 1 <= number <= INT64_MAX:
        raise BadValue("out of the int64 range")
    return number


def parse_dec(value: object, scale: int, precision: int) -> int | None:
    """A decimal field -> the value times ``10**scale`` as an int (exact), or None when blank."""
    if value.__class__ is int:
        units: int = value * 10**scale
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise BadValue("not a finite number")
        sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        if -exponent > scale:
            raise BadValue(f"has {-exponent} decimal places; the field allows {scale}")
        units = int("".join(map(str, digits)) or "0") * 10 ** (scale + exponent)
        units = -units if sign else units
    else:
        text = _numeric_text(value)
        if text is None:
            return None
        m = _NUMBER.fullmatch(text)
        if m is None:
            raise BadValue("not a number")
        whole, frac = m.group(2), m.group(3) or ""
        if not whole and not frac:
            raise BadValue("not a number")
        if len(frac) > scale:
            raise BadValue(f"has {len(frac)} decimal places; the field allows {scale}")
        units = int((whole or "0") + frac.ljust(scale, "0"))
        if m.group(1) == "-":
            units = -units
    if abs(units) >= 10**precision:
        raise BadValue(f"more than {precision} digits")
    return units


def parse_str(value: object) -> str | None:
    """A code, flag or name: kept exactly as sent (padding included); None when all blank."""
    if value is None:
        return None
    if value.__class__ is not str:
        if value.__class__ is int or isinstance(value, Decimal):
            return str(value)
        raise BadValue(f"expected a string, got {type(value).__name__}")
    if not value or value.isspace():
        return None
    return value


def parse_key(value: object) -> str | None:
    """The key column (shcode/futcode/optcode/symbol): as ``parse_str``, trailing padding removed."""
    text = parse_str(value)
    return None if text is None else text.rstrip(" ")


def parse_time(value: object) -> str | None:
    """HHMMSS, kept as the string sent; None when blank. Must be a real time of day."""
    if value.__class__ is int:
        value = f"{value:06d}"
    text = parse_str(value)
    if text is None:
        return None
    if not is_hhmmss(text):
        raise BadValue("not a time HHMMSS")
    return text


def is_hhmmss(text: str) -> bool:
    return (
        len(text) == 6
        and text.isascii()
        and text.isdigit()
        and text[:2] < "24"
        and text[2:4] < "60"
        and text[4:] < "60"
    )


def seconds_of_day(hhmmss: str) -> int:
    return int(hhmmss[:2]) * 3600 + int(hhmmss[2:4]) * 60 + int(hhmmss[4:])


def parse_date(value: object) -> str | None:
    """YYYYMMDD, kept as the string sent; None when blank. Must be a real calendar date."""
    if value.__class__ is int:
        value = str(value)
    text = parse_str(value)
    if text is None:
        return None
    if epoch_day(text) is None:
        raise BadValue("not a date YYYYMMDD")
    return text


@lru_cache(maxsize=4096)
def epoch_day(yyyymmdd: str) -> int | None:
    """Days since 1970-01-01 of a YYYYMMDD string, or None if it is not a date."""
    if len(yyyymmdd) != 8 or not (yyyymmdd.isascii() and yyyymmdd.isdigit()):
        return None
    try:
        day = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return None
    return day.toordinal() - _EPOCH_ORDINAL


def units_to_decimal(units: int, scale: int) -> Decimal:
    """A scaled integer back to the Decimal it stands for (``34620``, 2 -> ``Decimal("346.20")``)."""
    return Decimal(units).scaleb(-scale)
