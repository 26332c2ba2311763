"""State the simulator's REST and WebSocket sides share: limits, tokens, faults.

The REST side (``rest_api``) issues and revokes tokens and serves TRs; the WebSocket
side (``ws_api``) checks tokens on every registration and enforces the connection and
registration limits. Both read the same injectable clock. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections import deque
from dataclasses import dataclass, field

from gatherer.clock import SEOUL, Clock, seoul_ns, to_seoul

_NS = 1_000_000_000

FAULTS = ("drop", "stall", "unstall", "malformed", "refuse", "expire-token", "rest-rate-limit", "skip")
"""The faults the simulator injects on command (``Simulator.inject``, ``gatherer fault NAME``)."""


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """Limits the simulator enforces. LS does not publish the WebSocket ones (LS_OPENAPI.md §2.7)."""

    connections_per_key: int = 20
    """WebSocket connections one app key may hold open at once."""
    registrations_per_connection: int = 2_000
    """(TR, key) registrations one connection may hold."""
    registrations_per_s: float = 100.0
    """Registration requests per second, counted per app key across all TRs (LS notice 2025-03-17)."""
    rest_rate_scale: float = 1.0
    """Multiplies every per-TR REST rate limit (tests use more than 1 to run faster)."""
    master_page_rows: int = 0
    """When above 0, master TRs answer in pages of this many rows (tr_cont=Y); 0 = one response."""
    silent_past_limit: bool = False
    """Registrations past ``registrations_per_connection`` are acknowledged (00000) but never
    stream: the silent non-delivery some venues are said to have (`gatherer probe-limits` finds it)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    appkey: str
    appsecret: str


@dataclass(slots=True)
class IssuedToken:
    token: str
    appkey: str
    issued_ns: int
    expires_ns: int
    revoked: bool = False


def next_seven_am_ns(now_ns: int) -> int:
    """LS tokens expire at 07:00 KST of the next day (LS_OPENAPI.md §1.2)."""
    local = to_seoul(now_ns)
    day = local.date() + dt.timedelta(days=1)
    return seoul_ns(day, dt.time(7, 0))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(slots=True)
class SkipRule:
    """The next ``left`` trade frames of ``tr_cd`` (any trade TR if None) for ``symbol`` (any if None)."""

    left: int
    tr_cd: str | None = None
    symbol: str | None = None

    def matches(self, tr_cd: str, symbol: str) -> bool:
        return (self.tr_cd is None or self.tr_cd == tr_cd) and (self.symbol is None or self.symbol == symbol)


@dataclass(slots=True)
class Faults:
    """Faults armed by tests or the CLI; each is consumed by the side that acts on it."""

    rest_rate_limited: int = 0
    """The next N REST TR calls answer IGW00201 (HTTP 500)."""
    refuse_registrations: int = 0
    """The next N registrations are refused."""
    refuse_only: set[tuple[str, str]] = field(default_factory=set)
    """(tr_cd, symbol) registrations that are always refused."""
    malformed_frames: int = 0
    """The next N data frames sent are malformed."""
    skip: list[SkipRule] = field(default_factory=list)
    """Trade frames not sent although their prints happen (and are in the REST backfill history)."""

    def take_skip(self, tr_cd: str, symbol: str) -> bool:
        """Consume one unit of the first skip rule matching a trade frame; True if the frame is skipped."""
        for rule in self.skip:
            if rule.matches(tr_cd, symbol):
                rule.left -= 1
                if rule.left <= 0:
                    self.skip.remove(rule)
                return True
        return False

    def take(self, name: str) -> bool:
        """Consume one unit of a counted fault; True if it fired."""
        left: int = getattr(self, name)
        if left > 0:
            setattr(self, name, left - 1)
            return True
        return False


class TokenRegistry:
    """Tokens the simulated venue has issued, with LS's expiry at 07:00 KST next day."""

    def __init__(
        self, clock: Clock, credentials: Credentials | None = None, ttl_s: float | None = None
    ) -> None:
        self._clock = clock
        self._credentials = credentials
        self._ttl_s = ttl_s
        self._tokens: dict[str, IssuedToken] = {}
        self._latest_by_key: dict[str, str] = {}

    def accepts(self, appkey: str, appsecret: str) -> bool:
        if self._credentials is None:
            return bool(appkey) and bool(appsecret)
        return (appkey, appsecret) == (self._credentials.appkey, self._credentials.appsecret)

    def issue(self, appkey: str) -> IssuedToken:
        now = self._clock.time_ns()
        expires = now + int(self._ttl_s * _NS) if self._ttl_s is not None else next_seven_am_ns(now)
        payload = {
            "sub": "token",
            "aud": secrets.token_hex(8),
            "grant_type": "Client",
            "iss": "unogw",
            "iat": now // _NS,
            "nbf": now // _NS,
            "exp": expires // _NS,
            "jti": secrets.token_hex(12),
        }
        header = {"typ": "JWT", "alg": "HS512"}
        token = ".".join(
            [
                _b64(json.dumps(header).encode()),
                _b64(json.dumps(payload).encode()),
                _b64(secrets.token_bytes(32)),
            ]
        )
        issued = IssuedToken(token=token, appkey=appkey, issued_ns=now, expires_ns=expires)
        self._tokens[token] = issued
        self._latest_by_key[appkey] = token
        return issued

    def check(self, token: str) -> IssuedToken | None:
        """The live token record, or None if unknown, revoked or expired."""
        issued = self._tokens.get(token)
        if issued is None or issued.revoked or self._clock.time_ns() >= issued.expires_ns:
            return None
        return issued

    def revoke(self, token: str) -> bool:
        issued = self._tokens.get(token)
        if issued is None or issued.revoked:
            return False
        issued.revoked = True
        return True

    def expire_all(self) -> int:
        """Fault: make every token expired now. Returns how many were live."""
        now = self._clock.time_ns()
        live = [t for t in self._tokens.values() if not t.revoked and t.expires_ns > now]
        for t in live:
            t.expires_ns = now
        return len(live)


class RatePacer:
    """Sliding one-second window of request times, to refuse what exceeds ``per_s``."""

    def __init__(self, per_s: float) -> None:
        self._per_s = per_s
        self._times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        while self._times and now - self._times[0] >= 1.0:
            self._times.popleft()
        if len(self._times) >= max(1, int(self._per_s)):
            return False
        self._times.append(now)
        return True


__all__ = [
    "SEOUL",
    "Credentials",
    "Faults",
    "IssuedToken",
    "RatePacer",
    "SkipRule",
    "TokenRegistry",
    "VenueLimits",
    "next_seven_am_ns",
]
