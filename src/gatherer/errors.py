"""The exception hierarchy: one base, subclasses by phase and cause.

Third-party exceptions are wrapped where the library is used and re-raised ``from``
the original, so callers never import aiohttp or picows just to catch. Messages name
what was wrong and what to do next. Secrets never appear in a message.
"""

from __future__ import annotations


class GathererError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(GathererError):
    """The configuration file or environment is invalid; the message names the key."""


class AuthError(GathererError):
    """The venue refused our credentials or token (connect-time)."""


class ApiError(GathererError):
    """A REST TR answered with a non-success ``rsp_cd``."""

    def __init__(self, tr_cd: str, rsp_cd: str, rsp_msg: str, http_status: int | None = None) -> None:
        self.tr_cd = tr_cd
        self.rsp_cd = rsp_cd
        self.rsp_msg = rsp_msg
        self.http_status = http_status
        where = f" (HTTP {http_status})" if http_status is not None else ""
        super().__init__(f"{tr_cd} failed{where}: rsp_cd={rsp_cd} rsp_msg={rsp_msg}")


class RateLimited(ApiError):
    """The venue said we called a TR too often (IGW00201); retried after a wait."""


class ConnectError(GathererError):
    """A REST or WebSocket connection could not be established (connect-time)."""


class SessionLost(GathererError):
    """A WebSocket session that was streaming ended (stream-time)."""


class SubscriptionRefused(GathererError):
    """The venue answered a registration with a non-success rsp_cd."""

    def __init__(self, tr_cd: str, tr_key: str, rsp_cd: str, rsp_msg: str) -> None:
        self.tr_cd = tr_cd
        self.tr_key = tr_key
        self.rsp_cd = rsp_cd
        self.rsp_msg = rsp_msg
        super().__init__(
            f"registration {tr_cd} {tr_key.strip()!r} refused: rsp_cd={rsp_cd} rsp_msg={rsp_msg}"
        )


class JournalCorrupt(GathererError):
    """A journal segment failed its checks; the message says where and what to run."""


class DecodeError(GathererError):
    """A frame could not be decoded; it goes to quarantine with this reason."""
