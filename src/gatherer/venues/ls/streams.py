"""Which stream a data frame belongs to, read cheaply enough for the receive path.

LS data frames are ``{"header":{"tr_cd":"S3_","tr_key":"005930"},"body":{...}}`` (LS_OPENAPI.md
§2.5; the header's ``tr_key`` echoes the registration's key, padding included). The worker counts
frames per (TR, key) as they arrive, to register the busiest streams first after a drop, so the
stream is read from the raw bytes without parsing them: a bytes slice of the frame, compared with
the slice ``stream_key`` makes from a registration. Frames in another layout (keys in another
order, spaces, pretty-printed: other LS implementations, replays) take the slow path, a JSON
decode of the header only; acknowledgements (their header has ``rsp_cd``, §2.4) and frames that
are not JSON are no stream's. Nothing here raises on bad input.
"""

from __future__ import annotations

import msgspec

_PREFIX = b'{"header":{"tr_cd":"'
_START = len(_PREFIX)
_SEP = b'","tr_key":"'
_CD_END = _START + 3  # LS's TR codes have three characters (S3_, H1_, FC9, JIF, ...)
_KEY_START = _CD_END + len(_SEP)
_RSP_CD = b'"rsp_cd"'


class _Header(msgspec.Struct):
    tr_cd: str | None = None
    tr_key: str | None = None
    rsp_cd: str | None = None


class _Frame(msgspec.Struct):
    header: _Header | None = None


_decode_frame = msgspec.json.Decoder(_Frame).decode


def stream_key(tr_cd: str, tr_key: str) -> bytes:
    """The key ``frame_stream`` returns for frames of the registration (tr_cd, tr_key)."""
    return tr_cd.encode() + _SEP + tr_key.encode()


def frame_stream(payload: bytes) -> bytes | None:
    """``stream_key(tr_cd, tr_key)`` of a data frame; None for an acknowledgement or a non-frame."""
    # The compact layout LS sends, with a three-character TR code: two prefix checks and one search,
    # no copy but the key itself.
    if payload.startswith(_PREFIX) and payload.startswith(_SEP, _CD_END):
        end = payload.find(b'"', _KEY_START)
        if end > 0 and payload.startswith(b"}", end + 1):
            return payload[_START:end]
    return _slow(payload)


def _slow(payload: bytes) -> bytes | None:
    if _RSP_CD in payload:
        return None  # an acknowledgement (or a message about one), not data
    try:
        header = _decode_frame(payload).header
    except msgspec.DecodeError:
        return None
    if header is None or header.tr_cd is None or header.tr_key is None or header.rsp_cd is not None:
        return None
    return stream_key(header.tr_cd, header.tr_key)


__all__ = ["frame_stream", "stream_key"]
