"""Which TR carries each channel of a market on each venue, as data (LS_OPENAPI.md §3.3–§3.6).

KRX-listed stocks are served per venue (KRX, NXT) and as the KRX+NXT consolidated feed (통합);
the config's ``venues`` and ``channels`` pick from these tables (``plan.select``). Nothing here
parses or formats a frame; the mappings are read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gatherer.venues.ls.catalog import MARKET_CHANNELS

STOCK_VENUES: tuple[str, ...] = ("krx", "nxt", "unified")
"""Where a KRX-listed stock trades as LS serves it: KRX alone, NXT (Nextrade) alone, or the KRX+NXT
consolidated (통합) feed (LS_OPENAPI.md §3.4)."""


def _venue_table(
    krx: Mapping[str, str], nxt: Mapping[str, str], unified: Mapping[str, str]
) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType(
        {
            "krx": MappingProxyType(dict(krx)),
            "nxt": MappingProxyType(dict(nxt)),
            "unified": MappingProxyType(dict(unified)),
        }
    )


_NXT = {"book": "NH1", "trade": "NS3", "broker": "NK1", "vi": "NVI"}
_UNIFIED = {"book": "UH1", "trade": "US3", "broker": "UK1", "vi": "UVI"}
VENUE_CHANNELS: Mapping[str, Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "kospi": _venue_table(
            {"book": "H1_", "trade": "S3_", "broker": "K1_", "vi": "VI_", "auction": "YS3", "status": "JIF"},
            _NXT,
            _UNIFIED,
        ),
        "kosdaq": _venue_table(
            {"book": "HA_", "trade": "K3_", "broker": "OK_", "vi": "VI_", "auction": "YK3", "status": "JIF"},
            _NXT,
            _UNIFIED,
        ),
        "kfutures": MappingProxyType(
            {"krx": MappingProxyType({"book": "FH9", "trade": "FC9", "auction": "YF9", "status": "JIF"})}
        ),
        "koptions": MappingProxyType(
            {"krx": MappingProxyType({"book": "OH0", "trade": "OC0", "auction": "YOC", "status": "JIF"})}
        ),
        "ofutures": MappingProxyType({"overseas": MARKET_CHANNELS["ofutures"]}),
        "ooptions": MappingProxyType({"overseas": MARKET_CHANNELS["ooptions"]}),
    }
)
"""market -> venue -> channel -> TR: every channel a market can record, per venue. NXT and the
consolidated feed have no expected-price or status TR of their own here (NYS/UYS are not in the
catalog; JIF is one feed for all); ``status`` is JIF (tr_key ``0``), one registration for all markets."""


def market_channels(market: str) -> tuple[str, ...]:
    """Every channel a market can record, on any of its venues, in table order."""
    out: dict[str, None] = {}
    for channels in VENUE_CHANNELS[market].values():
        out.update(dict.fromkeys(channels))
    return tuple(out)
