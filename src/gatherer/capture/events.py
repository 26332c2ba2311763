"""The journal's EVENT records, one typed struct each: the day's story besides its frames.

An EVENT record's payload is a small JSON object whose ``event`` field names its type (the tag),
followed by that type's fields (docs/formats.md, "EVENT records"). Writers build one of these
structs and ``encode`` it; readers ``decode`` a payload and match on the class, so a field or a
name can only change in one place. A payload of a type not listed here (a newer writer) decodes
to None and is skipped by readers, never an error.

- From a connection (``conn_id`` the connection): ``Connected``, ``ConnectFailed``,
  ``Registered``, ``Refused``, ``Unacknowledged``, ``LegacyFallback``, ``Stalled``,
  ``TokenRefused``, ``Holding``, ``Disconnected``.
- From the journal itself (``conn_id`` the worker id): ``DiskFull``, ``DiskError``, ``DiskOk``.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec


class _Event(msgspec.Struct, tag_field="event", kw_only=True):
    pass


class Connected(_Event, tag="connected"):
    url: str
    attempt: int


class ConnectFailed(_Event, tag="connect_failed"):
    error: str


class Registered(_Event, tag="registered"):
    """A connection's registration rounds are over (until its next reconnect)."""

    accepted: int
    refused: int
    unanswered: int


class Refused(_Event, tag="refused"):
    tr_cd: str
    tr_key: str
    rsp_cd: str
    rsp_msg: str


class Unacknowledged(_Event, tag="unacknowledged"):
    tr_cd: str
    tr_key: str


class LegacyFallback(_Event, tag="legacy_fallback"):
    """A 2026 code was refused and its legacy code accepted (``to``)."""

    tr_cd: str
    to: str


class Stalled(_Event, tag="stalled"):
    silent_s: float


class TokenRefused(_Event, tag="token_refused"):
    """The venue refused the app key's token (index ``key``) before it expired; a new one was asked for."""

    key: int


class Holding(_Event, tag="holding"):
    """What a connection holds, written as a new trading day starts: ``[[tr_cd, tr_key], …]``."""

    registrations: list[tuple[str, str]]


class StockMarkets(_Event, tag="stock_markets"):
    """Which market each stock code recorded on a feed of both stock markets (NXT, 통합, VI) belongs
    to, so the store files those rows under kospi or kosdaq from the journal alone. Written by a
    worker as it starts and as each trading day starts."""

    kospi: list[str]
    kosdaq: list[str]


class Disconnected(_Event, tag="disconnected"):
    reason: str


CLOSED_BY_US = "closed by us"
"""``Disconnected.reason`` when we closed the connection (a stop): not an outage."""


class _DiskFailed(_Event):
    """Journal writes started failing (timed then): where, the errno's name, its text, and the bytes
    waiting to be written."""

    path: str
    errno: str
    error: str
    pending_bytes: int


class DiskFull(_DiskFailed, tag="disk_full"):
    """A journal write failed for space (ENOSPC, EDQUOT, EFBIG)."""


class DiskError(_DiskFailed, tag="disk_error"):
    """A journal write failed with another OSError."""


class DiskOk(_Event, tag="disk_ok"):
    path: str
    down_s: float
    retries: int


Event: TypeAlias = (
    Connected
    | ConnectFailed
    | Registered
    | Refused
    | Unacknowledged
    | LegacyFallback
    | Stalled
    | TokenRefused
    | Holding
    | StockMarkets
    | Disconnected
    | DiskFull
    | DiskError
    | DiskOk
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def encode(event: Event) -> bytes:
    """The payload of an EVENT record: ``{"event": <tag>, <fields>…}``."""
    return _encoder.encode(event)


def decode(payload: bytes) -> Event | None:
    """The event in an EVENT record's payload; None for a type this version does not know, or junk."""
    try:
        return _decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def name(payload: bytes) -> str:
    """The ``event`` tag of a payload as written, known or not ("?" if it has none)."""
    try:
        value = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return "?"
    return str(value.get("event", "?")) if isinstance(value, dict) else "?"


__all__ = [
    "CLOSED_BY_US",
    "ConnectFailed",
    "Connected",
    "Disconnected",
    "DiskError",
    "DiskFull",
    "DiskOk",
    "Event",
    "Holding",
    "LegacyFallback",
    "Refused",
    "Registered",
    "Stalled",
    "TokenRefused",
    "Unacknowledged",
    "decode",
    "encode",
    "name",
]
