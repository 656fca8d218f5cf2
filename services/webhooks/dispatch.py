"""From a finished job to queued deliveries: the job-finished listener.

For each terminal job it finds the targets (the request's `webhook`, a bridge's `webhook`
in job.meta, and the org's enabled endpoints whose filter matches), records one event and
one delivery per target, and publishes one message per delivery to the `webhooks` queue.
Event and delivery ids derive from the job, so a second run for the same job (the runner
re-tells listeners after a crash) reuses the records instead of sending twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from pydantic import ValidationError

from services.broker.base import OutgoingMessage
from services.broker.queues import Queue
from services.jobs.model import Job
from services.webhooks.models import (
    Delivery,
    DeliveryMessage,
    Endpoint,
    Event,
    WebhookTarget,
    delivery_id,
)
from services.webhooks.payloads import EVENT_FOR_STATUS, job_event
from services.webhooks.runtime import Webhooks

log = logging.getLogger(__name__)
# A recorded delivery with no attempt this long after it was due is taken as never queued.
STALE_AFTER_S = 60.0


def request_targets(job: Job) -> list[WebhookTarget]:
    """The per-job webhooks: job.request["webhook"] first, then job.meta["webhook"]."""
    out: dict[str, WebhookTarget] = {}
    for source in (job.request.get("webhook"), job.meta.get("webhook")):
        if not source:
            continue
        try:
            target = WebhookTarget.model_validate(source)
        except ValidationError:
            log.warning("job has an invalid webhook; skipped", extra={"job_id": job.id})
            continue
        out.setdefault(target.url, target)
    return list(out.values())


def new_delivery(event: Event, *, endpoint: Endpoint | None = None,
                 target: WebhookTarget | None = None) -> Delivery:
    if endpoint is not None:
        key, url, headers = f"ep:{endpoint.id}", endpoint.url, {}
    else:
        assert target is not None
        key, url, headers = f"url:{target.url}", target.url, target.headers
    return Delivery(
        id=delivery_id(event, key), org_id=event.org_id, event_id=event.id,
        event_type=event.type, job_id=event.job_id,
        endpoint_id=endpoint.id if endpoint else None, url=url, headers=headers,
        next_attempt_at=time.time(),
    )


def outgoing(msg: DeliveryMessage) -> OutgoingMessage:
    body: dict[str, Any] = msg.model_dump()
    return OutgoingMessage(orjson.dumps(body), message_id=f"{msg.delivery_id}.{msg.attempt}",
                           headers={"v": msg.v})


def message_for(delivery: Delivery, *, step: int, delay_s: float = 0.0) -> OutgoingMessage:
    """The message asking for the delivery's next attempt, due in `delay_s`."""
    return outgoing(DeliveryMessage(delivery_id=delivery.id, event_id=delivery.event_id,
                                    attempt=delivery.attempts + 1, step=step,
                                    not_before=time.time() + delay_s))


async def enqueue(runtime: Webhooks, deliveries: list[Delivery]) -> None:
    """Publish the first attempt of each delivery (confirms awaited together)."""
    if not deliveries:
        return
    if not runtime.queue_declared:
        # The API or a model worker may publish before any webhook worker has started (and
        # declared the queue); an undeclared queue would return the message as unroutable.
        await runtime.broker.declare([Queue.WEBHOOKS])
        runtime.queue_declared = True
    first = float(runtime.settings.retry_schedule_s[0])
    messages = [message_for(d, step=0, delay_s=first) for d in deliveries]
    if first > 0:
        for message in messages:
            await runtime.broker.publish(Queue.WEBHOOKS, message, delay_s=first)
    else:
        await runtime.broker.publish_many(Queue.WEBHOOKS, messages)


async def on_job_finished(runtime: Webhooks, job: Job) -> None:
    """The job-finished listener: record the event and queue a delivery per target."""
    event_type = EVENT_FOR_STATUS.get(job.status)
    if event_type is None:
        return
    endpoints = [e for e in await runtime.store.list_endpoints(job.org_id)
                 if e.enabled and e.matches(event_type)]
    targets = request_targets(job)
    if not endpoints and not targets:
        return
    event = job_event(job, event_type, runtime.settings)
    planned = [new_delivery(event, endpoint=e) for e in endpoints]
    planned += [new_delivery(event, target=t) for t in targets]
    await _record_and_enqueue(runtime, event, planned)


async def publish_org_event(runtime: Webhooks, event: Event) -> None:
    """Deliver an org event (not a job's) to every enabled endpoint subscribed to its type."""
    endpoints = [e for e in await runtime.store.list_endpoints(event.org_id)
                 if e.enabled and e.matches(event.type)]
    if endpoints:
        await _record_and_enqueue(runtime, event, [new_delivery(event, endpoint=e) for e in endpoints])


async def _record_and_enqueue(runtime: Webhooks, event: Event, planned: list[Delivery]) -> None:
    stale_before = time.time() - STALE_AFTER_S - runtime.settings.retry_schedule_s[0]
    queue = []
    for stored, created in await runtime.store.record(event, planned):
        # An earlier run that recorded this delivery but never got it attempted (it died
        # before publishing) is re-queued once the first attempt is clearly overdue.
        if created or (stored.attempts == 0 and not stored.status.terminal
                       and stored.updated_at < stale_before):
            queue.append(stored)
    await enqueue(runtime, queue)
