"""LS's registration retry policy, as a pure function of the answer (venues.ls.retry)."""

from __future__ import annotations

import pytest

from gatherer.venues.ls.retry import Next, after_ack


@pytest.mark.parametrize(
    ("rsp_cd", "rsp_msg", "tr_cd", "renew", "expected"),
    [
        ("00000", "정상처리되었습니다", "S3_", True, Next.ACCEPTED),
        ("00000", "", "FH9", False, Next.ACCEPTED),
        (None, "", "S3_", True, Next.AGAIN),  # no answer in time
        ("IGW00201", "초당 전송건수를 초과하였습니다", "H1_", True, Next.AGAIN),
        ("IGW00201", "", "FH9", False, Next.AGAIN),  # the rate first: FH9 itself may be fine
        ("IGW00131", "", "S3_", True, Next.NEW_TOKEN),
        ("IGW09999", "토큰이 만료되었습니다", "S3_", True, Next.NEW_TOKEN),  # the message names the token
        ("IGW00131", "", "S3_", False, Next.REFUSED),  # nobody to renew it
        ("IGW00131", "", "FH9", False, Next.LEGACY),
        ("IGW40011", "unknown tr", "FH9", True, Next.LEGACY),
        ("IGW40011", "unknown tr", "FC9", True, Next.LEGACY),
        ("IGW40011", "unknown tr", "FH0", True, Next.REFUSED),  # the legacy code refused too
        ("IGW40011", "unknown tr", "S3_", True, Next.REFUSED),
    ],
)
def test_each_answer_has_one_next_step(
    rsp_cd: str | None, rsp_msg: str, tr_cd: str, renew: bool, expected: Next
) -> None:
    assert after_ack(rsp_cd, rsp_msg, tr_cd, can_renew_token=renew) is expected
