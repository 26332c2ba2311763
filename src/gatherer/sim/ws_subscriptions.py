"""Who is registered for what on the simulated venue: each connection's registrations, the
subscribers of every (TR, symbol), and the (market, symbol) pairs the generator must animate.

The hub (``ws_api``) judges a registration and then records it here; the generator reads
``by_key`` and ``wanted`` and rebuilds its targets when ``version`` moves. No I/O: a connection's
socket is only carried along.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from gatherer.sim.market import MarketModel
from gatherer.venues.ls.catalog import ALL_SYMBOLS, CATALOG
from gatherer.venues.ls.keys import symbol_of


@dataclass(eq=False)
class SimConnection:
    """One client connection as the venue sees it."""

    conn_id: str
    ws: web.WebSocketResponse
    request: web.Request
    appkey: str | None = None
    registrations: set[tuple[str, str]] = field(default_factory=set)
    silent: set[tuple[str, str]] = field(default_factory=set)
    """Registrations acknowledged past the limit that never stream (``silent_past_limit``)."""
    stalled: bool = False
    frames_sent: int = 0
    outbox: list[bytes] = field(default_factory=list)


class Subscriptions:
    """Registrations by (TR, symbol) and by (market, symbol), kept in step."""

    def __init__(self, model: MarketModel) -> None:
        self._model = model
        self.by_key: dict[tuple[str, str], dict[SimConnection, str]] = {}
        """(tr_cd, symbol) -> {connection: tr_key}."""
        self.wanted: dict[tuple[str, str], set[str]] = {}
        """(market, symbol) -> subscribed TR codes."""
        self.status: dict[SimConnection, str] = {}
        """Connections registered for the market-status TR (no symbol), with their key."""
        self.everyone: dict[str, dict[SimConnection, str]] = {}
        """tr_cd -> connections registered for every stock (VI ``000000``), with their key."""
        self.version = 0
        """Moves on every change, so the generator knows to rebuild its targets."""

    def add(self, conn: SimConnection, tr_cd: str, tr_key: str) -> None:
        conn.registrations.add((tr_cd, tr_key))
        spec = CATALOG[tr_cd]
        if not spec.markets:
            self.status[conn] = tr_key
            return
        try:
            symbol = symbol_of(tr_cd, tr_key)
        except ValueError:
            return  # accepted and held, never streamed (a plain code on an NXT/통합 TR)
        self.version += 1
        if symbol == ALL_SYMBOLS and spec.channel == "vi":
            self.everyone.setdefault(tr_cd, {})[conn] = tr_key
            return
        self.by_key.setdefault((tr_cd, symbol), {})[conn] = tr_key
        for market in spec.markets:
            if self._model.instrument(market, symbol) is not None:
                self.wanted.setdefault((market, symbol), set()).add(tr_cd)

    def remove(self, conn: SimConnection, tr_cd: str, tr_key: str) -> None:
        conn.registrations.discard((tr_cd, tr_key))
        spec = CATALOG.get(tr_cd)
        if spec is None:
            return
        if not spec.markets:
            self.status.pop(conn, None)
            return
        try:
            symbol = symbol_of(tr_cd, tr_key)
        except ValueError:
            return
        if symbol == ALL_SYMBOLS and spec.channel == "vi":
            self.version += 1
            everyone = self.everyone.get(tr_cd, {})
            everyone.pop(conn, None)
            if not everyone:
                self.everyone.pop(tr_cd, None)
            return
        subs = self.by_key.get((tr_cd, symbol))
        if subs is None:
            return
        subs.pop(conn, None)
        self.version += 1
        if subs:
            return
        del self.by_key[(tr_cd, symbol)]
        for market in spec.markets:
            wanted = self.wanted.get((market, symbol))
            if wanted is not None:
                wanted.discard(tr_cd)
                if not wanted:
                    del self.wanted[(market, symbol)]

    def forget(self, conn: SimConnection) -> None:
        """Drop every registration of a connection that has gone."""
        for tr_cd, key in list(conn.registrations):
            self.remove(conn, tr_cd, key)
        self.status.pop(conn, None)
