"""The bus consumer: a durable pull consumer on the stream, positioned by the sink's own checkpoint.

The sink (``run.sink``) acknowledges only after its own checkpoint, and acknowledges cumulatively
(``AckPolicy.ALL``: one ack covers every earlier message), so the consumer's ack floor is always at or
behind what the sink has on disk. On start the durable consumer is (re)created at the stream sequence
after the sink's checkpoint (or, with no checkpoint, after the consumer's ack floor): messages a
crashed sink had received and not yet acknowledged come again at once and in order, instead of after
their ack wait and behind newer ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

log = logging.getLogger(__name__)

MAX_ACK_PENDING = 20_000
"""Messages the server hands the sink before an ack at most; the sink checkpoints when none come."""


@dataclass(frozen=True, slots=True)
class Position:
    start_seq: int
    """The first stream sequence to deliver."""
    ack_floor: int
    """The consumer's ack floor as found (0: no consumer)."""


async def open_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    subject_filter: str,
    *,
    after_seq: int | None,
    ack_wait_s: float,
) -> tuple[JetStreamContext.PullSubscription, Position]:
    """The durable pull consumer ``durable``, delivering from ``after_seq + 1`` (the sink's checkpoint),
    or from after its own ack floor when the sink has none; waits for the stream to exist."""
    floor = 0
    try:
        info = await js.consumer_info(stream, durable)
        floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
        await js.delete_consumer(stream, durable)
    except nats.js.errors.NotFoundError:
        pass
    start = (after_seq if after_seq is not None else floor) + 1
    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=start,
        ack_policy=AckPolicy.ALL,
        ack_wait=ack_wait_s,
        max_ack_pending=MAX_ACK_PENDING,
        filter_subject=subject_filter,
    )
    await js.add_consumer(stream, config)
    sub = await js.pull_subscribe_bind(durable, stream)
    return sub, Position(start, floor)


async def fetch(sub: JetStreamContext.PullSubscription, batch: int, timeout_s: float) -> list[Msg]:
    """Up to ``batch`` messages, waiting at most ``timeout_s`` for the first; [] when none came."""
    try:
        return await sub.fetch(batch, timeout=timeout_s)
    except (TimeoutError, nats.errors.TimeoutError):
        return []


__all__ = ["MAX_ACK_PENDING", "Position", "fetch", "open_consumer"]
