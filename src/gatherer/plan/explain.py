"""The text `gatherer plan` prints: what will be subscribed, how, and what to change if it does not fit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from gatherer.plan.pack import Plan
from gatherer.plan.select import Registration


def explain(registrations: Sequence[Registration], plan: Plan, notes: Sequence[str] = ()) -> str:
    lim = plan.limits
    lines: list[str] = []
    by_tr = Counter((r.market, r.channel, r.tr_cd) for r in registrations)
    unplaced = Counter((r.market, r.channel, r.tr_cd) for r in plan.unplaced)
    lines.append(f"{'market':<10} {'channel':<8} {'TR':<4} {'registrations':>13} {'not placed':>11}")
    for (market, channel, tr_cd), n in sorted(by_tr.items()):
        miss = unplaced.get((market, channel, tr_cd), 0)
        lines.append(f"{market:<10} {channel:<8} {tr_cd:<4} {n:>13,} {f'{miss:,}' if miss else '':>11}")
    missing = len(plan.unplaced)
    lines.append(f"{'total':<24} {len(registrations):>13,} {f'{missing:,}' if missing else '':>11}")
    lines.extend(f"note: {n}" for n in notes)
    per_key = lim.connections_per_key * lim.registrations_per_connection
    lines.append("")
    lines.append(
        f"{len(plan.connections)} connection(s) of at most {lim.registrations_per_connection} registrations,"
        f" on {len(plan.by_key())} of {plan.app_keys} app key(s)"
        f" (at most {lim.connections_per_key} connections each),"
        f" in {len(plan.by_worker())} worker process(es)"
    )
    lines.append(
        f"registering takes about {plan.registration_seconds:,.0f} s at {lim.registrations_per_s:g}"
        " registrations/s per app key"
    )
    if plan.fits:
        lines.append("the plan fits the venue limits")
        return "\n".join(lines)
    need_keys = -(-len(registrations) // per_key)
    lines.append("")
    lines.append(
        f"DOES NOT FIT: {len(registrations):,} registrations, but {plan.app_keys} app key(s) hold"
        f" {plan.app_keys} x {lim.connections_per_key} x {lim.registrations_per_connection}"
        f" = {plan.app_keys * per_key:,}; {len(plan.unplaced):,} would not be subscribed."
    )
    lines.append("To make it fit, any of:")
    lines.append(
        f"- use {need_keys} app keys: export GATHERER_LS_APPKEY_2 / GATHERER_LS_APPSECRET_2"
        f" … up to _{need_keys}"
    )
    lines.append(
        "- raise venue.connections_per_key or venue.registrations_per_connection, if your account allows more"
        " (LS publishes no limits; measure before relying on it)"
    )
    biggest = sorted(Counter(r.market for r in registrations).items(), key=lambda kv: -kv[1])[:2]
    for market, n in biggest:
        hint = {
            "ooptions": 'products = ["ES", "NQ"], expiries = 1, strikes = 10',
            "koptions": "expiries = 1, strikes = 10",
            "kospi": "etf = false, etn = false, or a symbols list",
            "kosdaq": "spac = false, or a symbols list",
        }.get(market, "a symbols list or fewer channels")
        lines.append(f"- narrow markets.{market} ({n:,} registrations): {hint}")
    return "\n".join(lines)
