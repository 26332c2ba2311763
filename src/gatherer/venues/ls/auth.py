"""OAuth access tokens for the LS Open API (LS_OPENAPI.md §1.2).

Issue: ``POST /oauth2/token`` with a form body; revoke: ``POST /oauth2/revoke``. LS says
``expires_in: 86400`` but its tokens really expire at 07:00 KST the next day, so the lifetime is
read from the JWT (``exp - iat``) and ``expires_in`` is only the fallback. The lifetime is added
to the collector's own clock at the moment the response arrived, never taken as the venue's
absolute ``exp``: a venue clock that differs from ours (or a simulator on a shifted clock) cannot
make a fresh token look expired, and a token is never used past its real end by more than the
difference between the two clocks' rates over a day.

Secrets never leave this module in text form: ``Credentials`` and ``Token`` hide their values in
``repr``, and no error message carries a key, secret or token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from gatherer.clock import Clock, SystemClock
from gatherer.errors import AuthError, ConfigError, ConnectError

ENV_APPKEY = "GATHERER_LS_APPKEY"
ENV_APPSECRET = "GATHERER_LS_APPSECRET"
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Credentials:
    """One app key and its secret; ``repr`` shows neither."""

    appkey: str = field(repr=False)
    appsecret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(appkey=<{len(self.appkey)} chars>, appsecret=<hidden>)"


def credentials_from_env(environ: Mapping[str, str]) -> Credentials:
    """Credentials from ``GATHERER_LS_APPKEY`` / ``GATHERER_LS_APPSECRET``; names what is missing."""
    missing = [name for name in (ENV_APPKEY, ENV_APPSECRET) if not environ.get(name, "").strip()]
    if missing:
        raise ConfigError(
            f"environment variable {' and '.join(missing)} is not set or empty; "
            "export the LS app key and secret before starting (they are never read from the config file)"
        )
    return Credentials(environ[ENV_APPKEY].strip(), environ[ENV_APPSECRET].strip())


def credentials_list_from_env(environ: Mapping[str, str]) -> list[Credentials]:
    """Every app key in the environment: the unnumbered pair first, then ``_2``, ``_3``, … until a gap.

    ``GATHERER_LS_APPKEY`` / ``GATHERER_LS_APPSECRET`` is key 1; more accounts add
    ``GATHERER_LS_APPKEY_2`` / ``GATHERER_LS_APPSECRET_2`` and so on. A key without its
    secret (or the reverse) is an error naming the variable; values are never shown.
    """
    found = [credentials_from_env(environ)]
    n = 2
    while True:
        key, secret = f"{ENV_APPKEY}_{n}", f"{ENV_APPSECRET}_{n}"
        has_key, has_secret = bool(environ.get(key, "").strip()), bool(environ.get(secret, "").strip())
        if not has_key and not has_secret:
            return found
        if has_key != has_secret:
            missing = secret if has_key else key
            raise ConfigError(f"environment variable {missing} is empty or unset; its pair is set: set both")
        found.append(Credentials(environ[key].strip(), environ[secret].strip()))
        n += 1


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without any app key or secret variable (``GATHERER_LS_APPKEY``, ``…_2``, …), for a
    child process that must not hold them."""
    return {k: v for k, v in environ.items() if not k.startswith((ENV_APPKEY, ENV_APPSECRET))}


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and when it stops working (UTC ns)."""

    access_token: str = field(repr=False)
    expires_ns: int
    issued_ns: int = 0

    def __repr__(self) -> str:
        return f"Token(expires_ns={self.expires_ns}, issued_ns={self.issued_ns})"

    def expires_within(self, now_ns: int, margin_s: float) -> bool:
        return now_ns + int(margin_s * _NS) >= self.expires_ns


def token_fingerprint(access_token: str) -> str:
    """A short, one-way name for a token (12 hex digits of its SHA-256): what processes say about a
    token they were refused for, so the token itself never travels further or reaches a log."""
    return hashlib.sha256(access_token.encode()).hexdigest()[:12]


def jwt_claims(token: str) -> dict[str, object]:
    """The JWT payload's claims (never verified), or an empty dict if the token is not a readable JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def jwt_exp_ns(token: str) -> int | None:
    """The JWT ``exp`` claim in UTC ns (the venue's clock), or None if the token is not a readable JWT."""
    exp = _seconds(jwt_claims(token).get("exp"))
    return None if exp is None else int(exp) * _NS


def token_lifetime_s(body: Mapping[str, object]) -> float | None:
    """How long a token from this /oauth2/token response lives, in seconds, or None if it says nothing.

    ``exp - iat`` from the JWT when it carries both (LS's tokens end at 07:00 KST the next day,
    whatever ``expires_in`` says, §1.2); else ``expires_in`` (LS's example) or ``expire_in`` (LS's
    field table). Both JWT claims are the venue's clock, so their difference is a duration that
    does not depend on how far the venue's clock is from ours.
    """
    access = body.get("access_token")
    claims = jwt_claims(access) if isinstance(access, str) else {}
    exp, iat = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
    if exp is not None and iat is not None:
        return max(0.0, exp - iat)
    for name in ("expires_in", "expire_in"):
        seconds = _seconds(body.get(name))
        if seconds is not None:
            return max(0.0, seconds)
    return None


def token_from_response(body: Mapping[str, object], now_ns: int) -> Token:
    """A ``Token`` from the /oauth2/token JSON that arrived at ``now_ns`` (the collector's clock).

    It expires ``token_lifetime_s`` after ``now_ns``. A response that says nothing about its
    lifetime is refused rather than given a guessed one.
    """
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise AuthError("token response has no access_token")
    lifetime_s = token_lifetime_s(body)
    if lifetime_s is None:
        raise AuthError(
            "token response says nothing about its lifetime (no JWT exp and iat, no expires_in); "
            "check that the REST URL points at LS's /oauth2/token"
        )
    return Token(access_token=access, expires_ns=now_ns + int(lifetime_s * _NS), issued_ns=now_ns)


def _refusal(what: str, status: int, body: object) -> AuthError:
    if isinstance(body, dict):
        code, msg = body.get("rsp_cd", body.get("code", "")), body.get("rsp_msg", body.get("message", ""))
        return AuthError(
            f"{what} refused (HTTP {status}): rsp_cd={code} rsp_msg={msg}; check the app key/secret"
        )
    return AuthError(f"{what} refused (HTTP {status}); check the app key/secret")


async def _post_form(
    http: aiohttp.ClientSession, url: str, form: Mapping[str, str], what: str
) -> tuple[int, object]:
    try:
        async with http.post(url, data=dict(form)) as resp:
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ConnectError(f"{what}: cannot reach {url}: {type(exc).__name__}") from exc
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


async def issue_token(
    http: aiohttp.ClientSession, base_url: str, appkey: str, appsecret: str, *, clock: Clock | None = None
) -> Token:
    """``POST /oauth2/token``; AuthError if the venue refuses the credentials."""
    form = {"grant_type": "client_credentials", "appkey": appkey, "appsecretkey": appsecret, "scope": "oob"}
    status, body = await _post_form(http, base_url.rstrip("/") + "/oauth2/token", form, "token issue")
    if status != 200 or not isinstance(body, dict) or "access_token" not in body:
        raise _refusal("token issue", status, body)
    return token_from_response(body, (clock or SystemClock()).time_ns())


async def revoke_token(
    http: aiohttp.ClientSession, base_url: str, appkey: str, appsecret: str, token: Token
) -> None:
    """``POST /oauth2/revoke``; AuthError if the venue does not confirm."""
    form = {
        "appkey": appkey,
        "appsecretkey": appsecret,
        "token_type_hint": "access_token",
        "token": token.access_token,
    }
    status, body = await _post_form(http, base_url.rstrip("/") + "/oauth2/revoke", form, "token revoke")
    if status != 200 or not isinstance(body, dict) or body.get("code") != 200:
        raise _refusal("token revoke", status, body)


__all__ = [
    "ENV_APPKEY",
    "ENV_APPSECRET",
    "Credentials",
    "Token",
    "credentials_from_env",
    "issue_token",
    "jwt_claims",
    "jwt_exp_ns",
    "revoke_token",
    "token_from_response",
    "token_lifetime_s",
    "without_secrets",
]
