"""The `webhooks` queue: one delivery attempt per message (see services/webhooks/deliver.py).

The handler schedules its own retries (the webhook schedule, through delay queues) and
returns normally, so the runner acks; only a malformed message is dead-lettered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from services.errors import Permanent
from services.webhooks.deliver import fail_dead, process
from services.webhooks.models import DeliveryMessage

if TYPE_CHECKING:
    from services.broker.base import Delivery
    from services.context import Context


def _decode(body: bytes) -> DeliveryMessage:
    try:
        return DeliveryMessage.model_validate_json(body)
    except ValidationError as exc:
        raise Permanent("malformed webhook message", code="bad_message") from exc


async def handle(ctx: Context, delivery: Delivery) -> None:
    await process(ctx, _decode(delivery.body))


async def handle_dead(ctx: Context, delivery: Delivery) -> None:
    """A message that hit the delivery limit: mark its delivery failed so it is visible."""
    try:
        message = _decode(delivery.body)
    except Permanent:
        return
    await fail_dead(ctx, message)
