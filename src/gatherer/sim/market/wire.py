"""How the market model's values look on the wire: price strings, sign codes, and book bodies
rendered in place.

LS sends every value as a string (LS_OPENAPI.md §2.5, §3): plain integer KRW prices,
``scale``-decimal derivative prices, unsigned changes with the direction in the sign code, ``"0"``
for unused book levels. Prices are integers in units of 10**-scale here and are formatted through
per-instrument caches. A book body is kept per instrument and TR and only its moved levels are
re-rendered; callers hand out copies. Nothing here knows an instrument's state or draws random
numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from gatherer.venues.ls.catalog import CATALOG

Body = dict[str, str]
Frame = tuple[str, Body]

_NAMES = {tr: spec.names for tr, spec in CATALOG.items()}

_KRX_MULTIPLIER = 250_000
"""KOSPI200 futures and options: KRW per index point; `value` is reported in 백만원 (§3.6 example)."""


def _scaled(p: int, scale: int) -> str:
    if scale == 0:
        return str(p)
    q, r = divmod(abs(p), 10**scale)
    return f"{'-' if p < 0 else ''}{q}.{r:0{scale}d}"


def _decimals(value: Decimal) -> int:
    exp = value.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _sign(change: int, at_upper: bool, at_lower: bool) -> str:
    """LS sign codes: 1 상한, 2 상승, 3 보합, 4 하한, 5 하락."""
    if at_upper:
        return "1"
    if at_lower:
        return "4"
    return "2" if change > 0 else "5" if change < 0 else "3"


class _PriceStrs(dict[int, str]):
    """Price (integer units of 10**-scale) -> its wire string, formatted once per distinct price."""

    __slots__ = ("scale",)

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def __missing__(self, p: int) -> str:
        s = self[p] = _scaled(p, self.scale)
        return s


class _Shown:
    """One book TR's body as last rendered for one instrument, and the level values it shows.

    The body is private to the model and updated in place (only the strings whose values moved
    are re-rendered); every frame gets a copy, so bodies handed out never change afterwards.
    """

    __slots__ = ("body", "keys", "levels")

    def __init__(self, tr: str, fixed: dict[str, str], first: int, depth: int, sections: int) -> None:
        self.body = _template(tr, fixed)
        self.keys = _sections(tr, first, depth, sections)
        """Field names of each level section (prices, quantities, counts per side)."""
        self.levels: list[list[int]] = [[] for _ in range(sections)]


def _template(tr: str, fixed: dict[str, str]) -> Body:
    """A body of ``tr`` with every field "0" (an unused book level), then ``fixed`` set."""
    body = dict.fromkeys(_NAMES[tr], "0")
    assert fixed.keys() <= body.keys(), (tr, fixed.keys() - body.keys())
    body.update(fixed)
    return body


def _sections(tr: str, first: int, depth: int, n: int) -> tuple[tuple[str, ...], ...]:
    """Field names of ``n`` consecutive ``depth``-level sections of ``tr`` starting at field ``first``."""
    names = _NAMES[tr]
    return tuple(names[first + k * depth : first + (k + 1) * depth] for k in range(n))


# Hot ``zip`` calls pass no ``strict=`` (hence the B905 noqa marks): on Python 3.11 the keyword
# costs ~0.2 µs a call, and their lengths are right by construction (``_put`` relies on a short
# ``vals`` stopping early).


def _put(
    body: Body, keys: tuple[str, ...], vals: list[int], shown: list[int], fmt: Callable[[int], str]
) -> None:
    """Render into ``body`` the levels of ``vals`` that differ from ``shown`` (what ``body`` holds).

    The caller has checked that they differ. Levels past ``len(vals)`` read "0"; ``shown``
    becomes a copy of ``vals``. Changes cluster at the touch, so the first is searched from there.
    """
    n, m = len(vals), len(shown)
    if n == m:
        j = 0
        while vals[j] == shown[j]:
            j += 1
        if vals[j + 1 :] == shown[j + 1 :]:
            body[keys[j]] = fmt(vals[j])
            shown[j] = vals[j]
            return
        body.update(zip(keys[j:], map(fmt, vals[j:])))  # noqa: B905 (vals may be short)
    else:
        body.update(zip(keys, map(fmt, vals)))  # noqa: B905
        if n < m:
            body.update(dict.fromkeys(keys[n:m], "0"))
    shown[:] = vals
