"""A `jobs.*` queue's handler: decode the message, hand it to the job lifecycle.

At-least-once delivery meets compare-and-set in the lifecycle: a redelivered message for a
finished job is acked and skipped, and a job cancelled while running stays cancelled.
"""

from __future__ import annotations

from pydantic import ValidationError

from services.broker.base import Delivery
from services.common.logging import job_id_var
from services.errors import Permanent
from services.jobs.lifecycle import JobLifecycle
from services.jobs.messages import JobMessage
from workers.runner import QueueHandler


def _decode(delivery: Delivery) -> JobMessage:
    try:
        message = JobMessage.decode(delivery.body)
    except ValidationError as exc:
        raise Permanent("malformed job message", code="bad_message") from exc
    job_id_var.set(message.job_id)
    return message


def handler(lifecycle: JobLifecycle) -> QueueHandler:
    async def handle(delivery: Delivery) -> None:
        await lifecycle.run_message(_decode(delivery), redelivered=delivery.redelivered)

    return handle


def dead_handler(lifecycle: JobLifecycle) -> QueueHandler:
    """Messages that hit the delivery limit: fail their jobs so nobody waits forever."""

    async def handle_dead(delivery: Delivery) -> None:
        try:
            message = _decode(delivery)
        except Permanent:
            return  # a malformed message in the dead-letter queue: nothing to fail
        await lifecycle.dead_letter(message.job_id)

    return handle_dead
