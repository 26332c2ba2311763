"""The LS REST client: one HTTP session and one token per app key, paced TR calls (LS_OPENAPI.md §1).

``RestClient.call`` sends a TR to its group path, follows continuation pages (``tr_cont`` /
``tr_cont_key`` headers, copying the OutBlock's ``cts_*`` fields into the InBlock, §1.3) and
returns every page's full body. It waits for the TR's turn in the ``RateLimiter`` before each
call; if the venue still answers IGW00201 it backs off and retries, and after ``max_rate_retries``
raises ``RateLimited`` rather than giving up silently. A token error gets one re-issue and one
retry. Any other non-``00000`` answer raises ``ApiError`` with tr_cd, rsp_cd and rsp_msg.

Decimals in bodies are parsed as ``Decimal`` (never float). Neither the token nor the app
secret ever appears in an error, a log line or a ``repr``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp

from gatherer.clock import Clock, SystemClock
from gatherer.errors import ApiError, AuthError, ConnectError, GathererError, RateLimited
from gatherer.venues.ls.auth import Credentials, Token, issue_token, revoke_token, token_fingerprint
from gatherer.venues.ls.envelope import OK_CODE, RATE_LIMITED_CODE
from gatherer.venues.ls.ratelimit import TR_LIMITS, RateLimiter, Sleep, TrLimit, backoff_s

log = logging.getLogger(__name__)

TOKEN_ERROR_CODES = frozenset({"IGW00131", "IGW00132"})
"""Codes treated as "token no longer valid". LS does not publish its token error codes (§1.5), so a
message that mentions the token (토큰 / token) counts too."""

Body = dict[str, Any]


def is_token_error(rsp_cd: str, rsp_msg: str) -> bool:
    return rsp_cd in TOKEN_ERROR_CODES or "토큰" in rsp_msg or "token" in rsp_msg.lower()


def continuation_fields(body: Mapping[str, Any], tr_cd: str) -> dict[str, Any]:
    """The ``cts_*`` fields of a response's single-object OutBlocks, to copy into the next InBlock."""
    out: dict[str, Any] = {}
    for name, block in body.items():
        if name.startswith(f"{tr_cd}OutBlock") and isinstance(block, dict):
            out.update({k: v for k, v in block.items() if k.startswith("cts_")})
    return out


class RestClient:
    """Paced, paging, token-managing TR calls for one app key. Open with ``RestClient.open``."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        http: aiohttp.ClientSession,
        *,
        clock: Clock,
        limiter: RateLimiter,
        rnd: random.Random,
        sleep: Sleep = asyncio.sleep,
        max_rate_retries: int = 6,
        refresh_margin_s: float = 300.0,
        max_pages: int = 10_000,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._http = http
        self._clock = clock
        self.limiter = limiter
        self._rnd = rnd
        self._sleep = sleep
        self._max_rate_retries = max_rate_retries
        self._refresh_margin_s = refresh_margin_s
        self._max_pages = max_pages
        self._token: Token | None = None
        self._token_lock = asyncio.Lock()
        self.token_issues_total = 0
        self.rate_limited_total = 0
        """IGW00201 answers received (each was retried or raised)."""

    def __repr__(self) -> str:
        return f"RestClient({self._base_url!r}, token={'set' if self._token else 'none'})"

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        base_url: str,
        credentials: Credentials,
        *,
        clock: Clock | None = None,
        limits: Mapping[str, TrLimit] = TR_LIMITS,
        rnd: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        timeout_s: float = 30.0,
        max_rate_retries: int = 6,
        refresh_margin_s: float = 300.0,
    ) -> AsyncIterator[RestClient]:
        """A client with a fresh token (AuthError if refused); revokes it and closes on exit."""
        clock = clock or SystemClock()
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))
        client = cls(
            base_url,
            credentials,
            http,
            clock=clock,
            limiter=RateLimiter(clock, limits, sleep=sleep),
            rnd=rnd or random.Random(),
            sleep=sleep,
            max_rate_retries=max_rate_retries,
            refresh_margin_s=refresh_margin_s,
        )
        try:
            await client.token()
            yield client
        finally:
            try:
                await client._revoke()
            finally:
                await http.close()

    async def token(self) -> Token:
        """The live token, issued or re-issued when missing or within ``refresh_margin_s`` of expiry."""
        async with self._token_lock:
            token = self._token
            if token is None or token.expires_within(self._clock.time_ns(), self._refresh_margin_s):
                token = await issue_token(
                    self._http,
                    self._base_url,
                    self._credentials.appkey,
                    self._credentials.appsecret,
                    clock=self._clock,
                )
                self._token = token
                self.token_issues_total += 1
                log.info("Issued an LS access token.", extra={"expires_ns": token.expires_ns})
            return token

    async def reissue(self, fingerprint: str) -> Token:
        """A new token when the venue refused the one named by ``fingerprint`` (``token_fingerprint``)
        although it had not expired; many reports of the same refusal cause one new token."""
        async with self._token_lock:
            if self._token is not None and token_fingerprint(self._token.access_token) == fingerprint:
                self._token = None
        return await self.token()

    async def _revoke(self) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            await revoke_token(
                self._http, self._base_url, self._credentials.appkey, self._credentials.appsecret, token
            )
        except GathererError as exc:
            log.warning("Could not revoke the LS access token: %s", exc)

    async def call(self, tr_cd: str, inblock: Mapping[str, Any], *, path: str | None = None) -> list[Body]:
        """Every page's body for one TR request, following ``tr_cont`` until the venue is done."""
        bodies: list[Body] = []
        async for body in self.pages(tr_cd, inblock, path=path):
            bodies.append(body)
        return bodies

    async def pages(
        self, tr_cd: str, inblock: Mapping[str, Any], *, path: str | None = None
    ) -> AsyncGenerator[Body, None]:
        """One TR request's pages, newest request first; the caller may stop early (backfill does)."""
        url_path = path or self.limiter.limit(tr_cd).path
        if not url_path:
            raise ApiError(tr_cd, "CLIENT", "no group path known for this TR; pass path=")
        block = dict(inblock)
        cont, key = "N", ""
        pages = 0
        while True:
            body, headers = await self._call_once(tr_cd, url_path, block, cont, key)
            pages += 1
            yield body
            if headers.get("tr_cont", "N") != "Y":
                return
            if pages >= self._max_pages:
                raise ApiError(tr_cd, "CLIENT", f"more than {self._max_pages} continuation pages")
            cont, key = "Y", headers.get("tr_cont_key", "")
            block.update(continuation_fields(body, tr_cd))

    async def _call_once(
        self, tr_cd: str, path: str, block: Mapping[str, Any], cont: str, key: str
    ) -> tuple[Body, Mapping[str, str]]:
        rate_attempts = 0
        reissued = False
        while True:
            async with self.limiter.turn(tr_cd):
                token = await self.token()
                status, headers, body = await self._post(tr_cd, path, token, block, cont, key)
            rsp_cd, rsp_msg = str(body.get("rsp_cd", "")), str(body.get("rsp_msg", ""))
            if rsp_cd == OK_CODE:
                return body, headers
            if rsp_cd == RATE_LIMITED_CODE:
                self.rate_limited_total += 1
                if rate_attempts >= self._max_rate_retries:
                    raise RateLimited(tr_cd, rsp_cd, f"{rsp_msg} (after {rate_attempts} retries)", status)
                per_s = self.limiter.limit(tr_cd).per_s
                delay = backoff_s(rate_attempts, base_s=1.0 / per_s, cap_s=8.0 / per_s, rnd=self._rnd)
                rate_attempts += 1
                log.warning(
                    "LS answered IGW00201; retrying after a pause.", extra={"tr_cd": tr_cd, "delay_s": delay}
                )
                await self._sleep(delay)
                continue
            if is_token_error(rsp_cd, rsp_msg):
                if not reissued:
                    reissued = True
                    async with self._token_lock:
                        if self._token is token:
                            self._token = None
                    continue
                raise AuthError(
                    f"{tr_cd} refused a freshly issued token (HTTP {status}): "
                    f"rsp_cd={rsp_cd} rsp_msg={rsp_msg}"
                )
            raise ApiError(tr_cd, rsp_cd or "?", rsp_msg or "(no rsp_msg)", status)

    async def _post(
        self, tr_cd: str, path: str, token: Token, block: Mapping[str, Any], cont: str, key: str
    ) -> tuple[int, Mapping[str, str], Body]:
        headers = {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {token.access_token}",
            "tr_cd": tr_cd,
            "tr_cont": cont,
            "tr_cont_key": key,
        }
        payload = json.dumps({f"{tr_cd}InBlock": block}, ensure_ascii=False, default=str).encode()
        url = self._base_url + path
        try:
            async with self._http.post(url, data=payload, headers=headers) as resp:
                raw = await resp.read()
                status = resp.status
                got = {k.lower(): v for k, v in resp.headers.items()}
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ConnectError(f"{tr_cd}: cannot reach {url}: {type(exc).__name__}: {exc}") from exc
        try:
            body = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise ApiError(tr_cd, "HTTP", f"response is not JSON ({len(raw)} bytes)", status) from None
        if not isinstance(body, dict):
            raise ApiError(tr_cd, "HTTP", "response is not a JSON object", status)
        return status, got, body


__all__ = ["RestClient", "continuation_fields", "is_token_error"]
