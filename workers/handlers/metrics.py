"""The `metrics` queue handler: add the message's events (one for a v1 body, up to the
producers' outbox size for a v2 envelope) to the batcher and return once all of them are
committed, so the runner acks each message only after its rows are stored.

Outcomes through the runner: an undecodable message or a refused event raises Permanent
(dead-letter queue, kept for replay; rows of the message already committed stay and are
skipped on replay); a database outage does not raise at all, the batch waits and retries
with its deliveries unacked (services/metrics/batcher.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.metrics.schemas import decode_events
from services.metrics.setup import metrics_batcher, pool_prefetch

if TYPE_CHECKING:
    from services.broker.base import Delivery
    from services.context import Context


async def handle(ctx: Context, delivery: Delivery) -> None:
    await metrics_batcher(ctx).add_many(decode_events(delivery.body))


def prefetch(ctx: Context) -> int:
    """In messages: about two DB batches of events (services.metrics.setup.pool_prefetch)."""
    return pool_prefetch(ctx.settings.timescale)
