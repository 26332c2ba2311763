"""Token lifetimes (LS_OPENAPI.md §1.2): taken from the response as a duration and counted from the
moment it arrived on the collector's clock, so a venue clock far from ours cannot make a fresh
token look expired (or an expired one look fresh)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from gatherer.clock import seoul_ns
from gatherer.errors import AuthError
from gatherer.venues.ls.auth import jwt_exp_ns, token_from_response, token_lifetime_s

from ..conftest import ls_example

_NS = 1_000_000_000


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt(**claims: object) -> str:
    """A JWT shaped like LS's (HS512 header, claims, a signature nobody checks)."""
    return ".".join([_b64(b'{"typ":"JWT","alg":"HS512"}'), _b64(json.dumps(claims).encode()), _b64(b"sig")])


def test_ls_example_lives_exp_minus_iat_from_its_arrival_not_until_its_2023_exp() -> None:
    example = ls_example("token")["response"]
    assert token_lifetime_s(example) == 86_400  # exp 1686714556 - iat 1686628156
    arrived = seoul_ns(dt.date(2026, 12, 4), dt.time(9, 0))  # three years after its exp
    token = token_from_response(example, now_ns=arrived)
    assert token.issued_ns == arrived and token.expires_ns == arrived + 86_400 * _NS
    assert not token.expires_within(arrived, 300.0)
    assert jwt_exp_ns(example["access_token"]) == 1686714556 * _NS  # the claim itself, unchanged
    assert example["access_token"] not in repr(token)


@pytest.mark.parametrize("venue_ahead_days", [-365, -1, 0, 1, 365])
def test_a_venue_clock_a_year_off_changes_nothing(venue_ahead_days: int) -> None:
    # Issued 09:14 KST by the venue's clock, ending at 07:00 KST the next day: 21 h 46 min.
    venue_day = dt.date(2026, 3, 20) + dt.timedelta(days=venue_ahead_days)
    iat = seoul_ns(venue_day, dt.time(9, 14)) // _NS
    exp = seoul_ns(venue_day + dt.timedelta(days=1), dt.time(7, 0)) // _NS
    body = {"access_token": jwt(iss="unogw", iat=iat, nbf=iat, exp=exp), "expires_in": 86400}
    arrived = seoul_ns(dt.date(2026, 3, 20), dt.time(9, 14, 3))
    token = token_from_response(body, now_ns=arrived)
    assert token.expires_ns == arrived + (21 * 3600 + 46 * 60) * _NS
    assert not token.expires_within(arrived, 300.0)
    assert token.expires_within(arrived + (21 * 3600 + 42 * 60) * _NS, 300.0)  # refreshed 5 min ahead


def test_expires_in_when_the_token_is_not_a_jwt_or_lacks_iat() -> None:
    assert token_from_response({"access_token": "opaque", "expires_in": 86400}, now_ns=5).expires_ns == (
        5 + 86_400 * _NS
    )
    no_iat = {"access_token": jwt(exp=2_000_000_000), "expires_in": 3600}
    assert token_from_response(no_iat, now_ns=7).expires_ns == 7 + 3600 * _NS
    # LS's field table spells it expire_in, as a string.
    assert token_lifetime_s({"access_token": "opaque", "expire_in": "86400"}) == 86_400


def test_a_response_without_a_lifetime_is_refused_with_what_is_missing() -> None:
    with pytest.raises(AuthError, match=r"exp and iat.*expires_in"):
        token_from_response({"access_token": "opaque"}, now_ns=0)
    with pytest.raises(AuthError, match="no access_token"):
        token_from_response({"expires_in": 86400}, now_ns=0)
