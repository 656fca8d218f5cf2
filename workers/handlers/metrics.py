"""The `metrics` queue handler: add the event to the current batch and return once that
batch has committed, so the runner acks each message only after its row is stored.

Outcomes through the runner: an undecodable or refused event raises Permanent (dead-letter
queue, kept for replay); a database outage does not raise at all, the batch waits and
retries with its deliveries unacked (services/metrics/batcher.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.metrics.schemas import decode_event
from services.metrics.setup import metrics_batcher

if TYPE_CHECKING:
    from services.broker.base import Delivery
    from services.context import Context


async def handle(ctx: Context, delivery: Delivery) -> None:
    await metrics_batcher(ctx).add(decode_event(delivery.body))


def prefetch(ctx: Context) -> int:
    """Two batches' worth: one fills while the previous one is being written."""
    return 2 * ctx.settings.timescale.batch_size
