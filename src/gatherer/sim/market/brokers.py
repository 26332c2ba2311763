"""Member firms (거래원) and the broker rankings LS's K1_/OK_/NK1/UK1 frames show.

Each venue keeps cumulative member volumes and values (``_Brokers``); a broker TR's body shows
each side's top five members with shares, changes since the previous frame of that TR, and the
foreign members' totals (``_Ranks``, rendered in place by ``_rank_side``). Which member traded
is drawn by the model; nothing here draws random numbers.
"""

from __future__ import annotations

from itertools import accumulate, compress
from operator import itemgetter, ne, sub

from gatherer.sim.market.wire import Body

# Member firms (거래원) as LS's K1_/NK1/UK1/OK_ examples show them: 3-digit code, name, foreign?
_MEMBERS_FULL = (
    ("002", "신한투자증권", False),
    ("003", "한국투자증권", False),
    ("005", "미래에셋증권", False),
    ("010", "메리츠증권", False),
    ("012", "NH투자증권", False),
    ("017", "KB증권", False),
    ("030", "삼성증권", False),
    ("050", "키움증권", False),
    ("063", "LS증권", False),
    ("086", "BNK 증권", False),
    ("033", "JP모간", True),
    ("035", "맥쿼리", True),
    ("041", "씨엘에스에이", True),
    ("043", "UBS", True),
    ("044", "메릴린치", True),
)
_MEMBER_WEIGHTS = (9, 7, 8, 3, 7, 6, 6, 14, 3, 1, 3, 2, 2, 3, 2)
_MEMBER_CUM = tuple(accumulate(_MEMBER_WEIGHTS))


def member_name(name: str, limit: int = 6) -> str:
    """A member name cut to ``limit`` bytes at a character boundary, as LS sends it.

    LS's examples are cut in the venue's Korean encoding (CP949, 2 bytes per Hangul syllable):
    "키움증" and "BNK 증" are 6 bytes there (9 and 7 in UTF-8).
    """
    out: list[str] = []
    used = 0
    for ch in name:
        size = len(ch.encode("cp949"))
        if used + size > limit:
            break
        out.append(ch)
        used += size
    return "".join(out)


_MEMBERS = tuple((code, member_name(name), foreign) for code, name, foreign in _MEMBERS_FULL)
_FOREIGN = tuple(i for i, m in enumerate(_MEMBERS) if m[2])
_foreign = itemgetter(*_FOREIGN)
_MEMBER_CODES = tuple(m[0] for m in _MEMBERS)
_MEMBER_NAMES = tuple(m[1] for m in _MEMBERS)


class _Ranks:
    """One broker TR's body as last rendered for one instrument, and what its rows show.

    Private to the model like ``_Shown``'s body. A row is re-rendered when the ranking changed
    or its member traded since; shares move with every print and are always redone.
    """

    __slots__ = ("body", "fmd", "fms", "md_cha", "md_top", "ms_cha", "ms_top")

    def __init__(self, body: Body) -> None:
        self.body = body
        self.md_top: list[int] = []
        self.ms_top: list[int] = []
        self.md_cha = self.ms_cha = False
        """Whether the body's change column on that side shows anything but zeros."""
        self.fmd = self.fms = -1
        """Foreign totals the body's foreign volume/value/average fields show (-1: none yet)."""


def _rank_keys(side: str, prefix: str) -> tuple[tuple[str, ...], ...]:
    """(code, name, volume, share, change, value, average) field names of one side's five rows."""
    fields: tuple[str, ...] = (f"{side}no", f"{side}trad", f"trad{prefix}vol", f"trad{prefix}rate")
    fields += (f"trad{prefix}cha", f"trad{prefix}val", f"trad{prefix}avg")
    return tuple(tuple(f"{f}{k}" for k in range(1, 6)) for f in fields)


_CENTS = tuple(f"{q // 100}.{q % 100:02d}" for q in range(10_001))
"""Shares 0.00 to 100.00 as LS prints them, by hundredths: ``f"{x:.2f}"`` costs twice as much. A
member never has more volume than its venue, so shares stay within the table."""
# Hot ``zip`` calls below pass no ``strict=`` (hence the B905 noqa marks): on Python 3.11 the
# keyword costs ~0.2 µs a call, and their lengths are right by construction (``_put`` relies
# on a short ``vals`` stopping early).
_MD_KEYS = _rank_keys("offer", "md")
_MS_KEYS = _rank_keys("bid", "ms")


def _rank_side(
    body: Body,
    keys: tuple[tuple[str, ...], ...],
    vol: list[int],
    val: list[int],
    last: list[int],
    rows: list[int],
    cha_shown: bool,
    pct: float,
    pct100: float,
) -> bool:
    """Render one side's top-5 rows into ``body``; ``rows`` (the members shown) is updated.

    ``last`` holds the volumes of the previous frame of this TR (so the rows show them when the
    ranking has not changed). Returns whether the change column now shows anything but zeros.
    """
    codes, names, vols, rates, chas, vals, avgs = keys
    if rows and vol == last:  # nobody on this side traded since: same ranking, same rows
        tv: tuple[int, ...] = itemgetter(*rows)(vol)
        tl = tv
        moved = False
        top = rows
    else:
        top = sorted(range(len(vol)), key=vol.__getitem__, reverse=True)[:5]
        get = itemgetter(*top)
        tv = get(vol)
        tl = get(last)
        moved = tv != tl
    if top != rows:
        tval: tuple[int, ...] = itemgetter(*top)(val)
        body.update(zip(codes, get(_MEMBER_CODES)))  # noqa: B905
        body.update(zip(names, get(_MEMBER_NAMES)))  # noqa: B905
        body.update(zip(vols, map(str, tv)))  # noqa: B905
        body.update(zip(vals, [str(x // 1_000_000) for x in tval]))  # noqa: B905
        body.update(zip(avgs, [str(x // v) if v else "0" for x, v in zip(tval, tv)]))  # noqa: B905
        rows[:] = top
        cha_shown = True
    elif moved:
        for r in compress(range(5), map(ne, tv, tl)):
            i, v = top[r], tv[r]
            body[vols[r]] = str(v)
            body[vals[r]] = str(val[i] // 1_000_000)
            body[avgs[r]] = str(val[i] // v) if v else "0"
    shares = []
    for v in tv:
        y = v * pct100
        q = round(y)
        shares.append(_CENTS[q] if -0.4999 < y - q < 0.4999 else f"{v * pct:.2f}")
    body.update(zip(rates, shares))  # noqa: B905
    if moved or cha_shown:
        body.update(zip(chas, map(str, map(sub, tv, tl))))  # noqa: B905
    return moved


class _Brokers:
    """Cumulative member volumes and values on one venue, and what the last frame showed."""

    __slots__ = ("md", "mdval", "ms", "msval", "shown_md", "shown_ms")

    def __init__(self) -> None:
        n = len(_MEMBERS)
        self.md = [0] * n
        self.ms = [0] * n
        self.mdval = [0] * n
        self.msval = [0] * n
        self.shown_md = [0] * n
        self.shown_ms = [0] * n

    def add(self, seller: int, buyer: int, qty: int, notional: int) -> None:
        self.md[seller] += qty
        self.mdval[seller] += notional
        self.ms[buyer] += qty
        self.msval[buyer] += notional
