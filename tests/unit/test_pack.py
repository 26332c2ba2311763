"""Packing within the venue limits, and the explanation of a plan (pure; no masters needed)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatherer.plan import ConnectionPlan, Limits, Plan, Registration, Selection, explain, pack
from gatherer.plan.pack import (
    ACK_RTT_S,
    CONNECT_S,
    MIN_SPACING,
    key_registration_s,
    registration_interval_s,
    slot_at,
)
from gatherer.venues.ls.catalog import MARKET_CHANNELS

_CHANNELS = [(m, c, tr) for m, chans in MARKET_CHANNELS.items() for c, tr in chans.items()]


def regs(n: int, market: str = "kospi", channel: str = "book", tr_cd: str = "H1_") -> list[Registration]:
    return [Registration(market, channel, tr_cd, f"{i:06d}") for i in range(n)]


registrations = st.lists(
    st.builds(
        lambda mct, code: Registration(*mct, f"{code:06d}"),
        st.sampled_from(_CHANNELS),
        st.integers(0, 400),
    ),
    max_size=2500,
)


def _check_limits(plan: Plan, given_regs: list[Registration], keys: int, limits: Limits) -> None:
    rpc, cpk = limits.registrations_per_connection, limits.connections_per_key
    placed = [r for c in plan.connections for r in c.registrations]
    # Nothing lost, nothing twice: placed + unplaced is exactly the (distinct) input.
    assert len(set(placed)) == len(placed)
    assert sorted(placed + list(plan.unplaced)) == sorted(set(given_regs))
    assert len(placed) == min(len(set(given_regs)), keys * cpk * rpc)
    assert plan.fits == (not plan.unplaced)
    # What does not fit is the tail of the stable order.
    if plan.unplaced:
        assert max(placed) < min(plan.unplaced)
    assert [c.index for c in plan.connections] == list(range(len(plan.connections)))
    assert all(0 < len(c.registrations) <= rpc for c in plan.connections)
    assert all(0 <= c.key_index < keys and 0 <= c.worker < limits.workers for c in plan.connections)
    per_key = [len(v) for v in plan.by_key().values()]
    assert all(k <= cpk for k in per_key)
    if plan.connections:
        # A drop costs the fewest streams: every connection the keys allow is used.
        assert len(plan.connections) == min(keys * cpk, len(placed))
        sizes = [len(c.registrations) for c in plan.connections]
        assert max(sizes) - min(sizes) <= 1
        if len(plan.connections) >= keys:
            assert len(per_key) == keys  # every key used before any gets a second connection
        assert max(per_key) - min(per_key) <= 1
        # Each key's connections in one worker (the worker paces the key), keys spread evenly.
        assert all(len({c.worker for c in v}) == 1 for v in plan.by_key().values())
        workers = plan.by_worker()
        assert len(workers) == min(limits.workers, len(per_key))
        keys_per_worker = [len({c.key_index for c in v}) for v in workers.values()]
        assert max(keys_per_worker) - min(keys_per_worker) <= 1
        key_loads = [sum(len(c.registrations) for c in v) for v in plan.by_key().values()]
        loads = [sum(len(c.registrations) for c in v) for v in workers.values()]
        assert max(loads) - min(loads) <= max(key_loads)
        # Registering: the busiest key's registrations at its pace, plus at most its connects.
        interval = registration_interval_s(limits.registrations_per_s)
        paced = (max(key_loads) - 1) * interval
        quickest = (max(key_loads) - 1) * interval * MIN_SPACING  # a burst at the start
        connects = cpk * (CONNECT_S + limits.reconnect_stagger_s)
        assert quickest <= plan.registration_seconds <= paced + connects + ACK_RTT_S + 1e-9
    else:
        assert plan.registration_seconds == 0


@settings(max_examples=200, deadline=None)
@given(
    given_regs=registrations,
    extra=st.integers(0, 3000),
    keys=st.integers(1, 6),
    cpk=st.integers(1, 8),
    rpc=st.integers(1, 300),
    workers=st.integers(1, 12),
    rate=st.floats(0.5, 200),
    seed=st.integers(0, 1000),
)
def test_packing_respects_every_limit_is_balanced_and_deterministic(
    given_regs: list[Registration],
    extra: int,
    keys: int,
    cpk: int,
    rpc: int,
    workers: int,
    rate: float,
    seed: int,
) -> None:
    given_regs = given_regs + regs(extra, "ooptions", "trade", "WOC")
    limits = Limits(
        connections_per_key=cpk, registrations_per_connection=rpc, registrations_per_s=rate, workers=workers
    )
    plan = pack(given_regs, app_keys=keys, limits=limits)
    _check_limits(plan, given_regs, keys, limits)
    shuffled = list(given_regs)
    random.Random(seed).shuffle(shuffled)
    assert pack(shuffled, app_keys=keys, limits=limits) == plan


def test_a_plan_at_exactly_the_capacity_fits_and_one_more_does_not() -> None:
    limits = Limits(
        connections_per_key=3, registrations_per_connection=200, registrations_per_s=20, workers=2
    )
    exact = pack(regs(1200), app_keys=2, limits=limits)
    assert exact.fits and len(exact.connections) == 6
    assert {k: len(v) for k, v in exact.by_key().items()} == {0: 3, 1: 3}
    # 600 per key, 20 per 1.05 s: 29 windows after the first connect, 19 sends into the last, the ack.
    last = 29 * 1.05 + 19 * 0.0525 * MIN_SPACING
    assert exact.registration_seconds == pytest.approx(CONNECT_S + last + ACK_RTT_S)
    over = pack(regs(1201), app_keys=2, limits=limits)
    assert not over.fits and over.unplaced == (regs(1201)[-1],)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="registrations_per_connection"):
        Limits(connections_per_key=1, registrations_per_connection=0, registrations_per_s=1)
    with pytest.raises(ValueError, match="registrations_per_s"):
        Limits(connections_per_key=1, registrations_per_connection=1, registrations_per_s=0)
    with pytest.raises(ValueError, match="app key"):
        pack(regs(1), app_keys=0, limits=Limits(1, 1, 1.0))


def test_explain_a_plan_that_does_not_fit() -> None:
    limits = Limits(
        connections_per_key=3, registrations_per_connection=200, registrations_per_s=20, workers=4
    )
    selection = regs(57_000, "ooptions", "book", "WOH") + regs(300, "kospi", "trade", "S3_")
    plan = pack(selection, app_keys=1, limits=limits)
    text = explain(Selection(selection, ["ooptions: 100 series of other products excluded"]), plan)
    assert not plan.fits and len(plan.unplaced) == 56_700
    assert "needs 57,300 registrations; 1 app key(s) hold 1 × 3 × 200 = 600" in text
    assert "56,700 would not be subscribed" in text
    # Per market and TR: what does not fit (kospi sorts before ooptions, so it is placed).
    assert "kospi      trade    S3_            300\n" in text
    assert "ooptions   book     WOH         57,000      56,700" in text
    assert "note: ooptions: 100 series of other products excluded" in text
    assert "add 95 app key(s), 96 in all" in text and "GATHERER_LS_APPKEY_96" in text
    assert "venue.connections_per_key to 287" in text
    assert "venue.registrations_per_connection to 19,100" in text
    assert "narrow the selection by at least 56,700 registrations" in text
    assert "markets.ooptions (57,000 registrations): products = " in text


def test_explain_a_plan_that_fits() -> None:
    limits = Limits(
        connections_per_key=3, registrations_per_connection=200, registrations_per_s=20, workers=2
    )
    selection = regs(700) + regs(300, "kfutures", "trade", "FC9")
    plan = pack(selection, app_keys=2, limits=limits)
    text = explain(["kospi: 5 ETFs excluded (etf = false)"], plan)
    assert plan.fits and "DOES NOT FIT" not in text
    assert "connections: 6 of 166–167 registrations" in text  # all the keys allow
    assert "app keys: 2 of 2 in use, 3 connection(s) each (at most 3)" in text
    assert "workers: 2 process(es) of 2, 500 registrations and 3 connection(s) each" in text
    assert "registering takes about 26 s: up to 500 registrations per app key at 20/s" in text  # 5 % under
    assert (
        "kfutures   trade    FC9            300" in text and "total                            1,000" in text
    )
    assert "note: kospi: 5 ETFs excluded (etf = false)" in text
    assert text.endswith("the plan fits the venue limits")
    # The older call form (registrations, plan, notes) says the same.
    assert explain(selection, plan, ["kospi: 5 ETFs excluded (etf = false)"]) == text


def test_explain_an_empty_selection() -> None:
    plan = pack([], app_keys=1, limits=Limits(3, 200, 20.0))
    assert plan.fits and plan.connections == () and "nothing to record" in explain([], plan)


def test_connection_plans_are_values() -> None:
    plan = pack(regs(3), app_keys=1, limits=Limits(2, 2, 20.0))
    assert plan.connections == (
        ConnectionPlan(0, 0, 0, (regs(3)[0], regs(3)[2])),
        ConnectionPlan(1, 0, 0, (regs(3)[1],)),
    )


def test_a_keys_registrations_are_spread_over_every_connection_it_may_open() -> None:
    # One drop takes a third of the streams away, not all of them.
    plan = pack(regs(163), app_keys=1, limits=Limits(3, 200, 20.0))
    assert [len(c.registrations) for c in plan.connections] == [55, 54, 54]
    assert sorted(r for c in plan.connections for r in c.registrations) == regs(163)
    five = pack(regs(500), app_keys=5, limits=Limits(3, 200, 20.0, workers=2))
    assert [len(v) for v in five.by_key().values()] == [3] * 5
    assert {k: {c.worker for c in v} for k, v in five.by_key().items()} == {
        0: {0}, 1: {1}, 2: {0}, 3: {1}, 4: {0},
    }  # fmt: skip


def test_a_keys_pace_keeps_every_window_within_the_rate_and_makes_up_a_late_slot() -> None:
    interval = registration_interval_s(20.0)
    assert interval == pytest.approx(1.05 / 20)
    assert slot_at([], interval, 20) == 0.0
    sent = [i * interval for i in range(20)]
    assert slot_at(sent, interval, 20) == pytest.approx(20 * interval)  # on schedule: the window decides
    late = [*sent[:-1], sent[-1] + 0.2]  # the 20th went 200 ms late (a busy loop)
    assert slot_at(late, interval, 20) == pytest.approx(late[-1] + MIN_SPACING * interval)
    times: list[float] = []
    for _ in range(200):
        times.append(slot_at(times[-20:], interval, 20))
    assert all(b - a >= 1.05 - 1e-9 for a, b in zip(times, times[20:], strict=False))  # 20 per 1.05 s


def test_the_registration_estimate_models_the_keys_pace_and_its_connects() -> None:
    interval = registration_interval_s(20.0)
    # Plenty to send: the connects overlap the first connection's registrations.
    assert key_registration_s([100, 100], per_s=20.0, stagger_s=0.2) == pytest.approx(
        CONNECT_S + 9 * 1.05 + 19 * interval * MIN_SPACING + ACK_RTT_S
    )
    # Little to send and a long stagger: the pace waits for each connection.
    assert key_registration_s([1, 1, 1], per_s=20.0, stagger_s=1.0) == pytest.approx(
        2 * (CONNECT_S + 1.0) + CONNECT_S + ACK_RTT_S
    )
    assert key_registration_s([], per_s=20.0, stagger_s=0.2) == 0.0
    plan = pack(regs(300) + regs(30, "kfutures", "trade", "FC9"), app_keys=3, limits=Limits(3, 200, 20.0))
    assert plan.registration_seconds == max(plan.key_seconds().values())


def test_every_worker_recording_krx_gets_the_market_status_feed_where_there_is_room() -> None:
    from gatherer.plan.pack import MARKET_STATUS, with_market_status

    limits = Limits(connections_per_key=4, registrations_per_connection=10, registrations_per_s=10, workers=2)
    plan = pack(regs(30) + regs(5, "ofutures", "book", "OVH"), app_keys=1, limits=limits)
    status = with_market_status(plan)
    for conns in status.by_worker().values():
        held = [r for c in conns for r in c.registrations]
        assert held.count(MARKET_STATUS) == 1
        least = min(conns, key=lambda c: (len(c.registrations) - (MARKET_STATUS in c.registrations), c.index))
        assert MARKET_STATUS in least.registrations  # on the least-loaded connection
    assert all(len(c.registrations) <= 10 for c in status.connections)
    assert with_market_status(status) == status  # once per worker
    overseas = pack(regs(5, "ofutures", "book", "OVH"), app_keys=1, limits=limits)
    assert with_market_status(overseas) == overseas  # no KRX market: nothing to watch
    full = pack(regs(80), app_keys=2, limits=limits)  # every connection full
    assert with_market_status(full) == full
