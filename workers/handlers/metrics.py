"""The `metrics` queue handler: add the message's events (one for a v1 body, up to the
producers' outbox size for a v2 envelope) to the batcher and return once all of them are
committed, so the runner acks each message only after its rows are stored.

Outcomes through the runner: an undecodable message or a refused event raises Permanent
(dead-letter queue, kept for replay; rows of the message already committed stay and are
skipped on replay); a database outage does not raise at all, the batch waits and retries
with its deliveries unacked (services/metrics/batcher.py).
"""

from __future__ import annotations

from services.broker.base import Delivery
from services.metrics.batcher import Batcher
from services.metrics.schemas import decode_events
from workers.runner import QueueHandler


def handler(batcher: Batcher) -> QueueHandler:
    async def handle(delivery: Delivery) -> None:
        await batcher.add_many(decode_events(delivery.body))

    return handle
