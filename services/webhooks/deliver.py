"""One delivery attempt from a `webhooks` queue message, and what follows from its outcome.

- 2xx: succeeded.
- 410 Gone: failed, and a registered endpoint is disabled (the receiver said it is gone).
- Refused by the network guard at send time: failed, with the reason as the attempt's error.
- Anything else (other statuses, connection errors, timeouts): the next attempt of the
  schedule is published through the broker's delay queue; on 429/503 a Retry-After longer
  than the scheduled wait is honoured (clipped to `max_retry_after_s`). When the schedule is
  spent the delivery is marked `exhausted`, listed by the API, and can be redelivered.

The next message is published before the attempt is recorded: if recording fails the
message is requeued and the attempt repeated (at-least-once; receivers dedupe on
webhook-id), where the other order could lose the delivery.
"""

from __future__ import annotations

import logging
import time

from yarl import URL

from services.broker.queues import Queue
from services.observability import tracing
from services.observability.prom import WEBHOOK_DELIVERIES, WEBHOOK_LATENCY
from services.webhooks.dispatch import message_for, outgoing
from services.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryMessage,
    DeliveryStatus,
    Endpoint,
    EventType,
    SigningSecret,
    active_secrets,
)
from services.webhooks.runtime import Webhooks
from services.webhooks.sender import USER_AGENT, SendResult, send
from services.webhooks.signing import generate_secret, signature_headers

log = logging.getLogger(__name__)
# A message may arrive this much before its time (clock granularity, ms rounding of delay
# queues) without being sent back to wait.
EARLY_TOLERANCE_S = 0.005


def origin(url: str) -> str:
    """The concurrency-limit key of a URL; a URL that does not parse keys on itself, and the
    guard in `send` then records the attempt as refused."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return url
    return f"{parsed.scheme}://{parsed.raw_host}:{parsed.explicit_port or ''}"


async def org_signing_secrets(runtime: Webhooks, org_id: str) -> list[SigningSecret]:
    """The org's default secrets (for per-request URLs), created on first use."""
    return await runtime.store.org_secrets(org_id, [SigningSecret(value=generate_secret())])


async def process(runtime: Webhooks, msg: DeliveryMessage) -> None:
    """Make attempt `msg.attempt` of the delivery, unless it is stale or early."""
    store = runtime.store
    delivery, event = await store.load(msg.delivery_id, msg.event_id)
    if delivery is None:
        log.info("webhook delivery expired; message dropped",
                 extra={"delivery_id": msg.delivery_id})
        return
    if delivery.status.terminal or delivery.attempts >= msg.attempt:
        return  # a duplicate of a message already handled
    early = msg.not_before - time.time()
    if early > EARLY_TOLERANCE_S:
        await runtime.broker.publish(Queue.WEBHOOKS, outgoing(msg), delay_s=early)
        return
    endpoint: Endpoint | None = None
    if delivery.endpoint_id:
        endpoint = await runtime.endpoints.get(delivery.org_id, delivery.endpoint_id)
        if endpoint is None:
            return await _stop(runtime, delivery, "endpoint was deleted")
        if not endpoint.enabled and delivery.event_type != EventType.TEST:
            return await _stop(runtime, delivery, "endpoint is disabled")
        delivery.url = endpoint.url
        signing = endpoint.secrets
    else:
        signing = await org_signing_secrets(runtime, delivery.org_id)
    if event is None:
        return await _stop(runtime, delivery, "event expired")
    async with runtime.limiter.slot(endpoint.id if endpoint else origin(delivery.url)):
        started = time.time()
        headers = {
            **delivery.headers, "content-type": "application/json", "user-agent": USER_AGENT,
            **signature_headers(active_secrets(signing, started), event.id, event.body,
                                int(started)),
        }
        with tracing.span("webhook deliver", kind="client", attributes={
            "webhook.delivery_id": delivery.id, "webhook.attempt": msg.attempt,
            "webhook.event_type": delivery.event_type,
        }) as current:
            result = await send(
                runtime.http, runtime.policy, delivery.url, headers, event.body.encode(),
                body_limit=runtime.settings.response_body_max_bytes,
            )
            tracing.set_attributes(current, {"http.response.status_code": result.status_code,
                                             "error.type": result.error})
    await _settle(runtime, delivery, endpoint, msg, started, result)


async def _settle(
    runtime: Webhooks, delivery: Delivery, endpoint: Endpoint | None,
    msg: DeliveryMessage, started: float, result: SendResult,
) -> None:
    now = time.time()
    attempt = Attempt(
        number=msg.attempt, started_at=started,
        scheduled_for=msg.not_before if msg.step > 0 else None,
        status_code=result.status_code, error=result.error, response_body=result.response_body,
        latency_ms=round(result.latency_s * 1000, 3) if not result.refused else None,
        outcome="retry",
    )
    delivery.attempts = msg.attempt
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    delivery.updated_at = now
    delivery.next_attempt_at = None
    if result.ok:
        attempt.outcome, delivery.status = "success", DeliveryStatus.SUCCEEDED
    elif result.refused:
        attempt.outcome, delivery.status = "refused", DeliveryStatus.FAILED
    elif result.status_code == 410:
        attempt.outcome, delivery.status = "gone", DeliveryStatus.FAILED
        if endpoint is not None:
            await _disable(runtime, endpoint, now)
    else:
        delay = next_delay(runtime, msg.step + 1, result.retry_after_s)
        if delay is None:
            attempt.outcome, delivery.status = "exhausted", DeliveryStatus.EXHAUSTED
        else:
            attempt.next_delay_s = delay
            delivery.next_attempt_at = now + delay
            await runtime.broker.publish(Queue.WEBHOOKS,
                                     message_for(delivery, step=msg.step + 1, delay_s=delay),
                                     delay_s=delay)
    await runtime.store.add_attempt(delivery, attempt)
    WEBHOOK_DELIVERIES.labels(attempt.outcome).inc()
    if not result.refused:
        WEBHOOK_LATENCY.observe(result.latency_s)
    log.info("webhook attempt", extra={
        "delivery_id": delivery.id, "job_id": delivery.job_id, "attempt": attempt.number,
        "status_code": result.status_code, "outcome": attempt.outcome,
    })


def next_delay(runtime: Webhooks, step: int, retry_after_s: float | None) -> float | None:
    """The wait before schedule step `step`, or None when the schedule is spent."""
    schedule = runtime.settings.retry_schedule_s
    if step >= len(schedule):
        return None
    delay = float(schedule[step])
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, runtime.settings.max_retry_after_s))
    return delay


async def _disable(runtime: Webhooks, endpoint: Endpoint, now: float) -> None:
    # Re-read so a concurrent edit (URL, description) is kept.
    latest = await runtime.store.get_endpoint(endpoint.org_id, endpoint.id) or endpoint
    latest.enabled = False
    latest.disabled_reason = "the receiver answered 410 Gone"
    latest.updated_at = now
    await runtime.store.put_endpoint(latest)
    runtime.endpoints.forget(endpoint.org_id, endpoint.id)
    log.warning("webhook endpoint disabled after 410", extra={"endpoint_id": endpoint.id})


async def _stop(runtime: Webhooks, delivery: Delivery, reason: str) -> None:
    delivery.status = DeliveryStatus.FAILED
    delivery.last_error = reason
    delivery.next_attempt_at = None
    delivery.updated_at = time.time()
    await runtime.store.save_delivery(delivery)
    WEBHOOK_DELIVERIES.labels("failed").inc()


async def fail_dead(runtime: Webhooks, msg: DeliveryMessage) -> None:
    """A message that crashed its worker repeatedly: mark the delivery failed, visibly."""
    delivery = await runtime.store.get_delivery(msg.delivery_id)
    if delivery is not None and not delivery.status.terminal:
        await _stop(runtime, delivery, "the delivery crashed its worker repeatedly")
