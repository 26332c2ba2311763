"""The text `gatherer plan` prints: what will be subscribed, how, and what to change if it does not fit.

Counts come from the plan itself (placed + unplaced is the whole selection), so the first
argument only contributes the selection's notes: a ``Selection``, its ``notes``, or — the
older form — the registrations, with the notes as the third argument.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from gatherer.plan.pack import REGISTRATION_MARGIN, Plan
from gatherer.plan.select import Registration, Selection
from gatherer.venues.ls.catalog import CATALOG

_NARROW: dict[str, str] = {
    "kospi": "etf = false, etn = false, spac = false, or a symbols list / symbols_file",
    "kosdaq": "etn = false, spac = false, or a symbols list / symbols_file",
    "kfutures": "expiries = 1, spreads = false",
    "koptions": "expiries = 1, strikes = 10",
    "ofutures": 'products = ["ES", "NQ", "CL"], expiries = 1',
    "ooptions": 'products = ["ES", "NQ"], expiries = 1, strikes = 10',
}


_STOCK_VENUES = ("krx", "nxt", "unified")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.0f} s"
    return f"{seconds / 60:,.1f} min ({seconds:,.0f} s)"


def _span(values: Sequence[int]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def explain(
    selection: Selection | Sequence[str] | Sequence[Registration],
    plan: Plan,
    notes: Sequence[str] = (),
) -> str:
    """Plain text: registrations per market and TR, connections, app keys, workers, how long
    registering takes, the selection's notes, and — when it does not fit — exactly what is left
    out and the config changes that would make it fit."""
    if isinstance(selection, Selection):
        notes = [*selection.notes, *notes]
    else:
        notes = [*(s for s in selection if isinstance(s, str)), *notes]
    lim = plan.limits
    everything = [r for c in plan.connections for r in c.registrations] + list(plan.unplaced)
    total, missing = len(everything), len(plan.unplaced)
    by_tr = Counter((r.market, r.channel, r.tr_cd) for r in everything)
    unplaced = Counter((r.market, r.channel, r.tr_cd) for r in plan.unplaced)

    lines = [f"{'market':<10} {'channel':<8} {'TR':<4} {'registrations':>13} {'not placed':>11}"]
    for (market, channel, tr_cd), n in sorted(by_tr.items()):
        miss = unplaced.get((market, channel, tr_cd), 0)
        lines.append(f"{market:<10} {channel:<8} {tr_cd:<4} {n:>13,} {f'{miss:,}' if miss else '':>11}")
    lines.append(f"{'total':<24} {total:>13,} {f'{missing:,}' if missing else '':>11}")
    by_venue = Counter(CATALOG[r.tr_cd].venue for r in everything if CATALOG[r.tr_cd].venue in _STOCK_VENUES)
    if set(by_venue) - {"krx"}:
        lines.append(
            "stock venues: "
            + ", ".join(f"{v} {by_venue[v]:,}" for v in _STOCK_VENUES if v in by_venue)
            + " registrations"
        )
    lines.extend(f"note: {n}" for n in notes)

    lines.append("")
    conns = plan.connections
    if conns:
        keys, workers = plan.by_key(), plan.by_worker()
        per_key_regs = [sum(len(c.registrations) for c in v) for v in keys.values()]
        per_worker = [sum(len(c.registrations) for c in v) for v in workers.values()]
        lines.append(
            f"connections: {len(conns):,} of {_span([len(c.registrations) for c in conns])} registrations"
            f" (at most {lim.registrations_per_connection} each)"
        )
        lines.append(
            f"app keys: {len(keys)} of {plan.app_keys} in use, {_span([len(v) for v in keys.values()])}"
            f" connection(s) each (at most {lim.connections_per_key})"
        )
        lines.append(
            f"workers: {len(workers)} process(es) of {lim.workers}, {_span(per_worker)} registrations"
            f" and {_span([len(v) for v in workers.values()])} connection(s) each"
        )
        lines.append(
            f"registering takes about {_duration(plan.registration_seconds)}: up to {max(per_key_regs):,}"
            f" registrations per app key at {lim.registrations_per_s:g}/s (sent {REGISTRATION_MARGIN:.0%}"
            f" under it), each key's connections {lim.reconnect_stagger_s:g} s apart, the app keys in"
            " parallel; as long again after a drop of every connection"
        )
    else:
        lines.append("connections: none")
    if plan.fits:
        lines.append(
            "the plan fits the venue limits" if total else "the selection is empty: nothing to record"
        )
        return "\n".join(line.rstrip() for line in lines)

    per_key = lim.connections_per_key * lim.registrations_per_connection
    need_keys = _ceil(total, per_key)
    lines.append("")
    lines.append(
        f"DOES NOT FIT: needs {total:,} registrations; {plan.app_keys} app key(s) hold"
        f" {plan.app_keys} × {lim.connections_per_key} × {lim.registrations_per_connection}"
        f" = {plan.app_keys * per_key:,}, so {missing:,} would not be subscribed"
        " (the last in market, channel, TR, code order; the table says which)."
    )
    lines.append("To make it fit, any one of:")
    lines.append(
        f"- add {need_keys - plan.app_keys} app key(s), {need_keys} in all: export"
        f" GATHERER_LS_APPKEY_2 / GATHERER_LS_APPSECRET_2 … GATHERER_LS_APPKEY_{need_keys} /"
        f" GATHERER_LS_APPSECRET_{need_keys} (one LS account each)"
    )
    cpk_needed = _ceil(total, plan.app_keys * lim.registrations_per_connection)
    rpc_needed = _ceil(total, plan.app_keys * lim.connections_per_key)
    lines.append(
        f"- raise venue.connections_per_key to {cpk_needed:,} (now {lim.connections_per_key}) or"
        f" venue.registrations_per_connection to {rpc_needed:,} (now {lim.registrations_per_connection}),"
        " if your account allows it (LS publishes no limits; measure before relying on them)"
    )
    lines.append(f"- narrow the selection by at least {missing:,} registrations; the largest markets:")
    per_market = Counter(r.market for r in everything)
    channels: dict[str, set[str]] = {}
    for r in everything:
        channels.setdefault(r.market, set()).add(r.channel)
    for market, n in sorted(per_market.items(), key=lambda kv: (-kv[1], kv[0]))[:3]:
        chans = sorted(channels[market])
        fewer = f", or fewer channels (now {', '.join(chans)})" if len(chans) > 1 else ""
        hint = _NARROW.get(market, "a symbols list")
        lines.append(f"    markets.{market} ({n:,} registrations): {hint}{fewer}")
    return "\n".join(line.rstrip() for line in lines)
