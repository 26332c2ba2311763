"""The run's picture (``ops.picture.Picture``) for a terminal: `gatherer status` prints it whole,
`gatherer run` on a terminal keeps its compact part live (``compact``)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gatherer.ops.picture import UP_STATES, Picture


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def _markets(p: Picture) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    for r in p.rates:
        n, fps = out.get(r.market, (0, 0.0))
        out[r.market] = (n + r.frames_total, fps + r.fps)
    return out


def headline(p: Picture) -> Text:
    up = sum(n for s, n in p.connections.items() if s in UP_STATES)
    total = sum(p.connections.values())
    regs = p.registrations
    state = "healthy" if p.healthy else "attention: " + "; ".join(p.why[:3])
    if p.idle:
        state = "idle: " + p.idle
    return Text.assemble(
        (state, "bold green" if p.healthy else "bold red"),
        f"  connections {up}/{total} up",
        f"  registrations {regs.get('acknowledged', 0):,}/{regs.get('planned', 0):,}"
        f" ({regs.get('refused', 0)} refused, {regs.get('unanswered', 0)} unanswered)",
        f"  restarts {p.restarts}",
    )


def compact(p: Picture) -> RenderableType:
    """Markets, frames/s, lag and reconnects: what `gatherer run` shows live on a terminal."""
    table = Table(box=None, pad_edge=False)
    for col in ("market", "frames", "frames/s"):
        table.add_column(col, justify="left" if col == "market" else "right")
    for market, (n, fps) in sorted(_markets(p).items()):
        table.add_row(market, f"{n:,}", f"{fps:,.0f}")
    lag = max((w.durable_lag_s for w in p.workers), default=0.0)
    store = max((w.store_lag_s for w in p.workers), default=0.0)
    reconnects = sum(w.reconnects_total for w in p.workers)
    lags = Text(f"lag: durable {_s(lag)}, store {_s(store)}; reconnects {reconnects}")
    return Group(headline(p), table, lags)


def full(p: Picture) -> RenderableType:
    """Everything the status page shows, as tables."""
    rates = Table(title="frames by market and channel")
    for col in ("market", "channel", "frames", "frames/s"):
        rates.add_column(col, justify="left" if col in ("market", "channel") else "right")
    for r in p.rates:
        rates.add_row(r.market, r.channel, f"{r.frames_total:,}", f"{r.fps:,.1f}")
    workers = Table(title="workers")
    for col in ("worker", "process", "connections", "reconnects", "durable lag", "store lag", "rows"):
        workers.add_column(col, justify="left" if col in ("worker", "process", "connections") else "right")
    for w in p.workers:
        conns = ", ".join(f"{s} {n}" for s, n in sorted(w.connections.items())) or "-"
        workers.add_row(
            w.worker_id, w.process, conns, str(w.reconnects_total), _s(w.durable_lag_s),
            f"{_s(w.store_lag_s)} ({w.store_lag_records:,} records)", f"{w.rows_total:,}",
        )  # fmt: skip
    lines: list[RenderableType] = [headline(p), rates, workers]
    gaps = p.gaps
    lines.append(Text(f"gaps: {gaps.get('found', 0)} found, {gaps.get('open', 0)} open; backfill {gaps}"))
    if p.quarantined:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(p.quarantined.items()))
        lines.append(Text(f"quarantined: {reasons}"))
    if p.disk:
        free, total = p.disk["free"], p.disk["total"]
        share = 100 * free / max(1, total)
        lines.append(Text(f"disk: {free / 1e9:,.1f} GB free of {total / 1e9:,.1f} GB ({share:.0f} %)"))
    for key, left_s in p.tokens:
        lines.append(Text(f"token of app key {key}: expires in {left_s / 3600:.1f} h"))
    for _t, message in p.errors[-10:]:
        lines.append(Text(message, style="red"))
    return Group(*lines)


__all__ = ["compact", "full", "headline"]
