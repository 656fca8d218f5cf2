"""The `webhooks` queue: one delivery attempt per message (see services/webhooks/deliver.py).

The handler schedules its own retries (the webhook schedule, through delay queues) and
returns normally, so the runner acks; only a malformed message is dead-lettered.
"""

from __future__ import annotations

from pydantic import ValidationError

from services.broker.base import Delivery
from services.errors import Permanent
from services.webhooks.deliver import fail_dead, process
from services.webhooks.models import DeliveryMessage
from services.webhooks.runtime import Webhooks
from workers.runner import QueueHandler


def _decode(body: bytes) -> DeliveryMessage:
    try:
        return DeliveryMessage.model_validate_json(body)
    except ValidationError as exc:
        raise Permanent("malformed webhook message", code="bad_message") from exc


def handler(webhooks: Webhooks) -> QueueHandler:
    async def handle(delivery: Delivery) -> None:
        await process(webhooks, _decode(delivery.body))

    return handle


def dead_handler(webhooks: Webhooks) -> QueueHandler:
    """A message that hit the delivery limit: mark its delivery failed so it is visible."""

    async def handle_dead(delivery: Delivery) -> None:
        try:
            message = _decode(delivery.body)
        except Permanent:
            return
        await fail_dead(webhooks, message)

    return handle_dead
