"""What to do after the venue answers one registration: LS's retry policy as a pure function.

The worker sends registrations in rounds and asks ``after_ack`` about each answer; it owns the
sending, the pacing and the journal, this module owns what LS's answers mean (LS_OPENAPI.md §1.5,
§2.4, §3.2):

- ``00000``: accepted.
- no answer in time, or ``IGW00201`` (too many calls, also sent for registrations that came too
  fast): send it again in the next round, after a pause.
- a token error (``rest.is_token_error``; LS does not publish the codes): ask for a new token
  once for the round and send it again with it, if the caller can renew the token.
- a 2026 futures code refused for another reason (``FH9``/``FC9``, ``catalog.LEGACY``): try the
  Dec-2025 code (``FH0``/``FC0``) once; if that is refused too, report the 2026 code as refused.
- anything else: refused for good; journaled and reported, never assumed away.
"""

from __future__ import annotations

from enum import Enum

from gatherer.venues.ls.catalog import LEGACY
from gatherer.venues.ls.envelope import OK_CODE, RATE_LIMITED_CODE
from gatherer.venues.ls.rest import is_token_error


class Next(Enum):
    ACCEPTED = "accepted"
    AGAIN = "again"
    """Send it again next round (unanswered, or refused for the rate)."""
    NEW_TOKEN = "new_token"
    """Send it again with a new token of the app key."""
    LEGACY = "legacy"
    """Send it again with ``LEGACY[tr_cd]``."""
    REFUSED = "refused"
    """Refused for good: report it under the code the plan asked for."""


def after_ack(rsp_cd: str | None, rsp_msg: str, tr_cd: str, *, can_renew_token: bool) -> Next:
    """The next step for a registration of ``tr_cd`` answered with ``rsp_cd`` (None: no answer)."""
    if rsp_cd == OK_CODE:
        return Next.ACCEPTED
    if rsp_cd is None or rsp_cd == RATE_LIMITED_CODE:
        return Next.AGAIN
    if can_renew_token and is_token_error(rsp_cd, rsp_msg):
        return Next.NEW_TOKEN
    if tr_cd in LEGACY:
        return Next.LEGACY
    return Next.REFUSED


__all__ = ["Next", "after_ack"]
