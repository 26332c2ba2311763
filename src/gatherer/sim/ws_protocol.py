"""The simulated venue's WebSocket messages (LS_OPENAPI.md §2): registration requests, the ack
codes, data frame encoding and the frame header the hub writes itself.

Limits are enforced with a refusal ack, never by silent acceptance. LS's own refusal codes are
not published (§7.4): the token, TR and rate codes are the REST side's (``rest_api``), the rest
are this simulator's, and the client treats any code other than ``00000`` as a refusal.
``malformed_frame`` breaks a data frame on purpose for the ``malformed_frames`` fault. Values
only: nothing here owns a connection.
"""

from __future__ import annotations

import random

import msgspec

from gatherer.sim.rest_api import BAD_TOKEN as BAD_TOKEN
from gatherer.sim.rest_api import RATE_LIMITED
from gatherer.sim.rest_api import UNKNOWN_TR as UNKNOWN_TR
from gatherer.venues.ls.catalog import CATALOG

OK = ("00000", "정상처리되었습니다")
SILENT: tuple[str, str] = (str(OK[0]), "".join([OK[1]]))
"""OK as the client sees it, for a registration past the limit that will never stream (a distinct
object: the venue's own verdict, compared by identity)."""
# Refusal codes: the token, TR and rate codes are the REST side's (rest_api); the rest
# are this simulator's, as LS does not publish its own (LS_OPENAPI.md §7.4).
BAD_REQUEST = ("IGW40014", "요청 메시지 형식이 올바르지 않습니다.")
TOO_FAST = RATE_LIMITED
TOO_MANY_CONNECTIONS = ("IGW00301", "접속 가능한 세션 수를 초과하였습니다.")
TOO_MANY_REGISTRATIONS = ("IGW00302", "실시간 등록 가능 건수를 초과하였습니다.")
REFUSED = ("IGW00303", "실시간 등록이 거부되었습니다.")


def ws_text_header(n: int) -> bytes:
    """The header of an unmasked, final text frame carrying ``n`` payload bytes (RFC 6455 §5.2)."""
    if n < 126:
        return bytes((0x81, n))
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big")
    return bytes((0x81, 127)) + n.to_bytes(8, "big")


class _RegHeader(msgspec.Struct):
    token: str = ""
    tr_type: str = ""


class _RegBody(msgspec.Struct):
    tr_cd: str = ""
    tr_key: str = ""


class _Registration(msgspec.Struct):
    header: _RegHeader
    body: _RegBody


_reg_decoder = msgspec.json.Decoder(_Registration)
_encode = msgspec.json.Encoder().encode


def malformed_frame(tr_cd: str, tr_key: str, body: dict[str, str], rng: random.Random) -> bytes:
    """A data frame broken one of four ways (cut short, body not an object, a bad number, no header)."""
    whole = _encode({"header": {"tr_cd": tr_cd, "tr_key": tr_key}, "body": body})
    kind = rng.randrange(4)
    if kind == 0:
        return whole[: max(1, len(whole) // 2)]  # cut short
    if kind == 1:
        return _encode({"header": {"tr_cd": tr_cd, "tr_key": tr_key}, "body": "not an object"})
    if kind == 2:
        # A number that is not one, in a field the table says is numeric.
        broken = dict(body)
        fields = CATALOG[tr_cd].fields
        numeric = sorted(f.name for f in fields if f.kind in ("int", "dec") and f.name in body)
        broken[rng.choice(numeric) if numeric else rng.choice(sorted(broken))] = "12#4"
        return _encode({"header": {"tr_cd": tr_cd, "tr_key": tr_key}, "body": broken})
    return _encode({"body": body})  # no header
