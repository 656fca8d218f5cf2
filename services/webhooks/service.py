"""What the API does with webhooks: endpoint CRUD, secrets, test sends, the delivery log and
redelivery. Every read is scoped to the caller's org: another org's object is NotFound."""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.errors import Conflict, Invalid, NotFound
from services.net.guard import ResolveFailed, UnsafeTarget, check_url
from services.webhooks.deliver import org_signing_secrets
from services.webhooks.dispatch import enqueue, new_delivery
from services.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EventType,
    SigningSecret,
)
from services.webhooks.payloads import test_event
from services.webhooks.runtime import Webhooks
from services.webhooks.signing import generate_secret, rotate
from services.webhooks.store import DeliveryPage

# Events an endpoint can subscribe to (webhook.test is always sent to the endpoint tested).
SUBSCRIBABLE = frozenset({EventType.JOB_SUCCEEDED, EventType.JOB_FAILED, EventType.JOB_CANCELLED,
                          EventType.BUDGET_THRESHOLD})
# Every event fans out to each matching endpoint; 50 keeps one job's fan-out bounded.
MAX_ENDPOINTS_PER_ORG = 50


@dataclass(slots=True)
class EndpointChanges:
    url: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    enabled: bool | None = None


async def validate_url(runtime: Webhooks, url: str) -> str:
    """The normalized URL, or Invalid naming `url` with the guard's reason."""
    try:
        return (await check_url(url, runtime.policy)).url
    except (UnsafeTarget, ResolveFailed) as exc:
        raise Invalid(f"url is not allowed: {exc.message}", field="url") from exc


def _event_types(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - SUBSCRIBABLE)
    if unknown:
        raise Invalid(f"unknown event types: {', '.join(unknown)}; known: "
                      f"{', '.join(sorted(SUBSCRIBABLE))}", field="event_types")
    return sorted(set(values))


async def create_endpoint(
    runtime: Webhooks, org_id: str, *, url: str, description: str = "",
    event_types: list[str] | None = None, enabled: bool = True,
) -> tuple[Endpoint, str]:
    """Register an endpoint; returns it with its secret, which is shown this once."""
    if len(await runtime.store.list_endpoints(org_id)) >= MAX_ENDPOINTS_PER_ORG:
        raise Conflict(f"an org may register at most {MAX_ENDPOINTS_PER_ORG} endpoints",
                       code="too_many_endpoints")
    secret = generate_secret()
    endpoint = Endpoint(
        org_id=org_id, url=await validate_url(runtime, url), description=description,
        event_types=_event_types(event_types or []), enabled=enabled,
        secrets=[SigningSecret(value=secret)],
    )
    await runtime.store.put_endpoint(endpoint)
    return endpoint, secret


async def get_endpoint(runtime: Webhooks, org_id: str, endpoint_id: str) -> Endpoint:
    endpoint = await runtime.store.get_endpoint(org_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"endpoint {endpoint_id} not found")
    return endpoint


async def list_endpoints(runtime: Webhooks, org_id: str) -> list[Endpoint]:
    return await runtime.store.list_endpoints(org_id)


async def update_endpoint(
    runtime: Webhooks, org_id: str, endpoint_id: str, changes: EndpointChanges,
) -> Endpoint:
    """Apply the given changes; enabling an endpoint clears why it was disabled."""
    endpoint = await get_endpoint(runtime, org_id, endpoint_id)
    if changes.url is not None:
        endpoint.url = await validate_url(runtime, changes.url)
    if changes.description is not None:
        endpoint.description = changes.description
    if changes.event_types is not None:
        endpoint.event_types = _event_types(changes.event_types)
    if changes.enabled is not None:
        endpoint.enabled = changes.enabled
        if changes.enabled:
            endpoint.disabled_reason = None
    endpoint.updated_at = time.time()
    await runtime.store.put_endpoint(endpoint)
    runtime.endpoints.forget(org_id, endpoint_id)
    return endpoint


async def delete_endpoint(runtime: Webhooks, org_id: str, endpoint_id: str) -> None:
    if not await runtime.store.delete_endpoint(org_id, endpoint_id):
        raise NotFound(f"endpoint {endpoint_id} not found")
    runtime.endpoints.forget(org_id, endpoint_id)


async def rotate_endpoint_secret(
    runtime: Webhooks, org_id: str, endpoint_id: str, *, overlap_s: float | None = None,
) -> tuple[Endpoint, str]:
    """A new secret signs from now on; the old one also signs for `overlap_s`."""
    endpoint = await get_endpoint(runtime, org_id, endpoint_id)
    overlap = runtime.settings.rotation_overlap_s if overlap_s is None else overlap_s
    endpoint.secrets = rotate(endpoint.secrets, overlap, time.time())
    endpoint.updated_at = time.time()
    await runtime.store.put_endpoint(endpoint)
    runtime.endpoints.forget(org_id, endpoint_id)
    return endpoint, endpoint.secrets[0].value


async def org_secret(runtime: Webhooks, org_id: str) -> str:
    """The org's default secret (signs per-request webhook URLs), created on first use."""
    return (await org_signing_secrets(runtime, org_id))[0].value


async def rotate_org_secret(runtime: Webhooks, org_id: str, *, overlap_s: float | None = None) -> str:
    overlap = runtime.settings.rotation_overlap_s if overlap_s is None else overlap_s
    current = await org_signing_secrets(runtime, org_id)
    rotated = rotate(current, overlap, time.time())
    await runtime.store.put_org_secrets(org_id, rotated)
    return rotated[0].value


async def send_test(runtime: Webhooks, org_id: str, endpoint_id: str) -> Delivery:
    """Queue a `webhook.test` event to the endpoint (sent even while it is disabled)."""
    endpoint = await get_endpoint(runtime, org_id, endpoint_id)
    event = test_event(org_id, endpoint.id)
    ((delivery, _),) = await runtime.store.record(event, [new_delivery(event, endpoint=endpoint)])
    await enqueue(runtime, [delivery])
    return delivery


async def list_deliveries(
    runtime: Webhooks, org_id: str, *, job_id: str | None = None,
    status: DeliveryStatus | None = None, limit: int = 50, cursor: str | None = None,
) -> DeliveryPage:
    return await runtime.store.list_deliveries(
        org_id, job_id=job_id, status=status, limit=limit, cursor=cursor)


async def get_delivery(
    runtime: Webhooks, org_id: str, delivery_id: str,
) -> tuple[Delivery, list[Attempt]]:
    store = runtime.store
    delivery = await store.get_delivery(delivery_id)
    if delivery is None or delivery.org_id != org_id:
        raise NotFound(f"delivery {delivery_id} not found")
    return delivery, await store.list_attempts(delivery_id)


async def redeliver(runtime: Webhooks, org_id: str, delivery_id: str) -> Delivery:
    """Start a new round of the retry schedule for a finished delivery (same webhook-id)."""
    delivery, _ = await get_delivery(runtime, org_id, delivery_id)
    if not delivery.status.terminal:
        raise Conflict("the delivery is still in progress", code="delivery_pending")
    if delivery.endpoint_id:
        endpoint = await runtime.store.get_endpoint(org_id, delivery.endpoint_id)
        if endpoint is None:
            raise Conflict("the endpoint was deleted", code="endpoint_deleted")
        if not endpoint.enabled and delivery.event_type != EventType.TEST:
            raise Conflict("the endpoint is disabled; enable it first", code="endpoint_disabled")
    if await runtime.store.get_event(delivery.event_id) is None:
        raise Conflict("the event has expired", code="event_expired")
    delivery.status = DeliveryStatus.PENDING
    delivery.last_error = None
    delivery.updated_at = delivery.next_attempt_at = time.time()
    await runtime.store.save_delivery(delivery)
    await enqueue(runtime, [delivery])
    return delivery
