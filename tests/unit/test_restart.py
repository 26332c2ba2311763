"""The supervisor's restart backoff: it grows with deaths in a row and starts afresh after a healthy run."""

from __future__ import annotations

import random

from gatherer.run.workers import deaths_in_a_row
from gatherer.venues.ls.ratelimit import backoff_s


def test_deaths_in_quick_succession_count_up_and_a_healthy_run_resets_the_count() -> None:
    count = 0
    for _ in range(8):
        count = deaths_in_a_row(count, ran_s=3.0, healthy_s=120.0)
    assert count == 8
    assert deaths_in_a_row(count, ran_s=120.0, healthy_s=120.0) == 1
    assert deaths_in_a_row(count, ran_s=119.9, healthy_s=120.0) == 9


def test_after_a_healthy_run_the_restart_waits_about_the_base_again() -> None:
    rnd = random.Random(1)
    streak = deaths_in_a_row(7, ran_s=3.0, healthy_s=120.0)
    assert backoff_s(streak, base_s=1.0, cap_s=60.0, rnd=rnd) >= 30.0  # capped at 60, at least half
    fresh = deaths_in_a_row(streak, ran_s=600.0, healthy_s=120.0)
    assert backoff_s(fresh, base_s=1.0, cap_s=60.0, rnd=rnd) <= 2.0
