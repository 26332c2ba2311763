"""``/metrics``: the run's picture (``ops.picture``) in Prometheus text format, with prometheus-client.

Names follow STYLE.md: the stage first, counters ending in ``_total``, units in the name. Label
values are bounded constants: market, channel, worker id, connection state, registration status,
quarantine reason, backfill status, app key number; never a symbol. Every value is read from the
latest ``Picture`` when scraped; a registry of its own per server (no global state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gatherer.ops.picture import Picture

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PictureCollector(Collector):
    """Reports whatever ``latest()`` returns at scrape time (nothing before the first picture)."""

    def __init__(self, latest: Callable[[], Picture | None]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[Metric]:
        p = self._latest()
        if p is None:
            return
        yield from _capture(p)
        yield from _store(p)
        yield from _run(p)


def _capture(p: Picture) -> Iterator[Metric]:
    frames = CounterMetricFamily(
        "gatherer_capture_frames", "Data frames received", labels=["market", "channel", "worker"]
    )
    for market, channel, worker, n in p.frames:
        frames.add_metric([market, channel, worker], n)
    yield frames
    fps = GaugeMetricFamily(
        "gatherer_capture_frames_per_second", "Data frames per second lately", labels=["market", "channel"]
    )
    for r in p.rates:
        fps.add_metric([r.market, r.channel], r.fps)
    yield fps
    messages = CounterMetricFamily(
        "gatherer_capture_messages", "Every message received (acks included), by worker", labels=["worker"]
    )
    reconnects = CounterMetricFamily(
        "gatherer_capture_reconnects", "Reconnections, by worker", labels=["worker"]
    )
    lag = GaugeMetricFamily(
        "gatherer_capture_durable_lag_seconds",
        "Receive-to-fsync wait of the oldest record of the journal's last commit",
        labels=["worker"],
    )
    for w in p.workers:
        messages.add_metric([w.worker_id], w.messages_total)
        reconnects.add_metric([w.worker_id], w.reconnects_total)
        lag.add_metric([w.worker_id], w.durable_lag_s)
    yield from (messages, reconnects, lag)
    conns = GaugeMetricFamily("gatherer_capture_connections", "Connections by state", labels=["state"])
    for state, n in sorted(p.connections.items()):
        conns.add_metric([state], n)
    yield conns
    regs = GaugeMetricFamily("gatherer_capture_registrations", "Registrations by status", labels=["status"])
    for status, n in sorted(p.registrations.items()):
        regs.add_metric([status], n)
    yield regs


def _store(p: Picture) -> Iterator[Metric]:
    lag = GaugeMetricFamily(
        "gatherer_store_lag_seconds",
        "Age of the last journal record the store read, while more is durable (0: caught up)",
        labels=["worker"],
    )
    records = GaugeMetricFamily(
        "gatherer_store_lag_records", "Durable journal records the store has not read yet", labels=["worker"]
    )
    rows = CounterMetricFamily("gatherer_store_rows", "Rows decoded for Parquet", labels=["worker"])
    for w in p.workers:
        lag.add_metric([w.worker_id], w.store_lag_s)
        records.add_metric([w.worker_id], w.store_lag_records)
        rows.add_metric([w.worker_id], w.rows_total)
    yield from (lag, records, rows)
    quarantined = CounterMetricFamily(
        "gatherer_decode_quarantined", "Frames quarantined, by reason", labels=["reason"]
    )
    for reason, n in sorted(p.quarantined.items()):
        quarantined.add_metric([reason], n)
    yield quarantined
    yield CounterMetricFamily(
        "gatherer_ledger_gaps_found",
        "Cumulative-volume gaps found by the stores",
        value=p.gaps.get("found", 0),
    )
    yield GaugeMetricFamily(
        "gatherer_ledger_gaps_open",
        "Gaps found and not yet tried by a backfill pass",
        value=p.gaps.get("open", 0),
    )
    backfill = CounterMetricFamily("gatherer_backfill_gaps", "Backfilled gaps by result", labels=["status"])
    for status, n in sorted(p.gaps.items()):
        if status not in ("found", "open", "passes", "tried", "deferred"):
            backfill.add_metric([status], n)
    yield backfill


def _run(p: Picture) -> Iterator[Metric]:
    up = GaugeMetricFamily("gatherer_run_worker_up", "1 while the worker process runs", labels=["worker"])
    for w in p.workers:
        up.add_metric([w.worker_id], 1 if w.process == "running" else 0)
    yield up
    yield CounterMetricFamily("gatherer_run_worker_restarts", "Worker processes restarted", value=p.restarts)
    yield GaugeMetricFamily(
        "gatherer_run_healthy", "1 while /healthz answers 200", value=1 if p.healthy else 0
    )
    for name in ("total", "used", "free"):
        if name in p.disk:
            yield GaugeMetricFamily(
                f"gatherer_disk_{name}_bytes",
                f"The storage root's filesystem: {name} bytes",
                value=p.disk[name],
            )
    tokens = GaugeMetricFamily(
        "gatherer_venue_token_expiry_seconds", "Seconds until the app key's token expires", labels=["key"]
    )
    for key, left_s in p.tokens:
        tokens.add_metric([str(key)], left_s)
    yield tokens


def registry_of(latest: Callable[[], Picture | None]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PictureCollector(latest))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


__all__ = ["CONTENT_TYPE", "PictureCollector", "exposition", "registry_of"]
