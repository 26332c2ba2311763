"""The LS WebSocket message envelope, read in one place (LS_OPENAPI.md §2.2–§2.5).

Every LS real-time message is JSON ``{"header": {...}, "body": {...}}``:

- a registration request (we send it): ``{"header":{"token":…,"tr_type":"3"|"4"},
  "body":{"tr_cd":…,"tr_key":…}}``;
- its acknowledgement: the header has ``tr_cd``, ``tr_key``, ``tr_type`` and ``rsp_cd`` /
  ``rsp_msg`` (``00000``: accepted), the body is null;
- a data frame: the header has ``tr_cd`` and ``tr_key`` (the registration's key, padding
  included), the body the TR's fields.

Everything that reads the envelope — the session's acks, the worker's per-stream counts, the
market-status tap, the ledger, the decoder's ack count, the journal tools — uses these
functions and constants; the TR bodies are the decoder's (``decode``) and the catalog's.
Nothing here raises on bad input: a payload that is not an LS message reads as None.

A pure leaf: it imports nothing of the project, so the simulator speaks the same envelope.
"""

from __future__ import annotations

import re

import msgspec

OK_CODE = "00000"
"""``rsp_cd`` of an accepted registration or a successful REST call."""
RATE_LIMITED_CODE = "IGW00201"
"""The gateway's "too many calls" code (LS_OPENAPI.md §1.5), also seen for registrations sent too fast."""
SUBSCRIBE = "3"
UNSUBSCRIBE = "4"


class Header(msgspec.Struct, frozen=True):
    """The header of any LS message; a field the message lacks is None."""

    tr_cd: str | None = None
    tr_key: str | None = None
    tr_type: str | None = None
    rsp_cd: str | None = None
    rsp_msg: str | None = None

    @property
    def is_ack(self) -> bool:
        """An acknowledgement (or an error about one), not data: it carries ``rsp_cd``."""
        return self.rsp_cd is not None


class _Request(msgspec.Struct):
    tr_cd: str | None = None
    tr_key: str | None = None


class _Message(msgspec.Struct):
    header: Header | None = None
    body: _Request | None = None


class _Headed(msgspec.Struct):
    header: Header | None = None


_decode_message = msgspec.json.Decoder(_Message).decode
_decode_headed = msgspec.json.Decoder(_Headed).decode
_encode = msgspec.json.Encoder().encode
_RSP_CD = b'"rsp_cd"'


def read_header(payload: bytes) -> Header | None:
    """The header of a message; None when the payload is not JSON with a header object."""
    try:
        return _decode_headed(payload).header
    except msgspec.DecodeError:
        return None


def maybe_ack(payload: bytes) -> Header | None:
    """The header of an acknowledgement; None for data frames (cheap: no parse without ``rsp_cd``)."""
    if match_compact_data(payload) is not None or _RSP_CD not in payload:
        return None  # a data frame in LS's layout (its header is closed after tr_key), or no rsp_cd
    header = read_header(payload)
    return header if header is not None and header.is_ack else None


def registration_frame(token: str, tr_type: str, tr_cd: str, tr_key: str) -> bytes:
    """The JSON text frame that (un)registers one (TR, key) (LS_OPENAPI.md §2.2)."""
    header = {"token": token, "tr_type": tr_type}
    return _encode({"header": header, "body": {"tr_cd": tr_cd, "tr_key": tr_key}})


def read_registration(payload: bytes) -> tuple[str, str, str] | None:
    """(tr_type, tr_cd, tr_key) of a registration request as ``registration_frame`` writes it."""
    try:
        msg = _decode_message(payload)
    except msgspec.DecodeError:
        return None
    if msg.header is None or msg.body is None or msg.body.tr_cd is None or msg.body.tr_key is None:
        return None
    return msg.header.tr_type or "", msg.body.tr_cd, msg.body.tr_key


# -- the stream of a data frame, cheaply enough for the receive path ------------------------------
#
# The worker counts frames per (TR, key) as they arrive, to register the busiest streams first after
# a drop, so the stream is read from the raw bytes of LS's compact layout without parsing them:
# ``{"header":{"tr_cd":"S3_","tr_key":"005930"},"body":{...}}`` gives a bytes slice, compared with the
# slice ``stream_key`` makes from a registration. Frames in another layout (keys in another order,
# spaces: other LS implementations, replays) take the slow path, a decode of the header only.

_SEP = b'","tr_key":"'
_COMPACT_DATA = re.compile(rb'\{"header":\{"tr_cd":"([^"\\]{3}","tr_key":"[^"\\]*)"\}')
"""LS's compact data layout, its TR code three characters long (S3_, H1_, FC9, JIF, ...): the header
holds tr_cd and tr_key and nothing else (so it is no acknowledgement); group 1 is the stream key.
No backslash: an escaped quote in a key must not end it early (such frames take the slow path)."""
match_compact_data = _COMPACT_DATA.match
"""One regular-expression match at the start of the payload, in C: the receive path's test."""


def stream_key(tr_cd: str, tr_key: str) -> bytes:
    """The key ``frame_stream`` returns for data frames of the registration (tr_cd, tr_key)."""
    return tr_cd.encode() + _SEP + tr_key.encode()


def frame_stream(payload: bytes) -> bytes | None:
    """``stream_key(tr_cd, tr_key)`` of a data frame; None for an acknowledgement or a non-frame."""
    m = match_compact_data(payload)
    if m is not None:
        return m[1]
    if _RSP_CD in payload:
        return None  # an acknowledgement (or a message about one), not data
    header = read_header(payload)
    if header is None or header.tr_cd is None or header.tr_key is None or header.is_ack:
        return None
    return stream_key(header.tr_cd, header.tr_key)


# -- the TR code without parsing: journal tools that filter by TR over millions of records --------

_TR_CD = b'"tr_cd"'


def tr_cd_of(payload: bytes) -> str | None:
    """The first ``"tr_cd"`` value of an LS message, found without parsing the JSON; None if none."""
    value = tr_cd_bytes(payload)
    return None if value is None else value.decode("utf-8", "replace")


def tr_cd_bytes(payload: bytes) -> bytes | None:
    """``tr_cd_of`` as bytes, for comparing without decoding."""
    i = payload.find(_TR_CD)
    if i < 0:
        return None
    colon = payload.find(b":", i + len(_TR_CD))
    if colon < 0:
        return None
    i = payload.find(b'"', colon + 1)
    if i < 0:
        return None
    j = payload.find(b'"', i + 1)
    if j < 0 or j - i > 32:
        return None
    return payload[i + 1 : j]


__all__ = [
    "OK_CODE",
    "RATE_LIMITED_CODE",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "Header",
    "frame_stream",
    "match_compact_data",
    "maybe_ack",
    "read_header",
    "read_registration",
    "registration_frame",
    "stream_key",
    "tr_cd_bytes",
    "tr_cd_of",
]
