"""The webhook store port: endpoints and secrets (kept), events, deliveries and their
attempt log (expire with job retention). The runtime's store is a `SplitWebhookStore`:
endpoints and secrets from a `WebhookConfigStore` (below), the rest from Redis or memory.

Adapters: `memory_store.MemoryWebhookStore` (embedded) and `redis_store.RedisWebhookStore`
(production). tests/services/webhooks/test_store_contract.py runs against both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    Event,
    SigningSecret,
)


@dataclass(slots=True)
class DeliveryPage:
    deliveries: list[Delivery]
    # Pass back as `cursor` for the next (older) page; None on the last page.
    next_cursor: str | None


class WebhookStore(Protocol):
    async def put_endpoint(self, endpoint: Endpoint) -> None:
        """Create or replace the endpoint (keyed by org and id)."""

    async def get_endpoint(self, org_id: str, endpoint_id: str) -> Endpoint | None:
        """The org's endpoint; None when it does not exist or belongs to another org."""

    async def list_endpoints(self, org_id: str) -> list[Endpoint]:
        """The org's endpoints, oldest first."""

    async def delete_endpoint(self, org_id: str, endpoint_id: str) -> bool: ...

    async def org_secrets(self, org_id: str, initial: list[SigningSecret]) -> list[SigningSecret]:
        """The org's default signing secrets, atomically stored as `initial` on first use."""

    async def put_org_secrets(self, org_id: str, items: list[SigningSecret]) -> None: ...

    async def record(
        self, event: Event, deliveries: list[Delivery],
    ) -> list[tuple[Delivery, bool]]:
        """Store the event and each delivery unless one with its id exists (in one round trip
        on Redis); for each delivery, the stored record and whether this call created it."""

    async def get_event(self, event_id: str) -> Event | None: ...

    async def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    async def load(self, delivery_id: str, event_id: str) -> tuple[Delivery | None, Event | None]:
        """The delivery and its event together (one round trip on Redis)."""

    async def save_delivery(self, delivery: Delivery) -> None:
        """Replace the delivery record (status, counters, next attempt)."""

    async def add_attempt(self, delivery: Delivery, attempt: Attempt) -> None:
        """Append `attempt` to the log and save `delivery` with it."""

    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        """Every attempt of the delivery, oldest first."""

    async def list_deliveries(
        self, org_id: str, *, job_id: str | None = None, status: DeliveryStatus | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> DeliveryPage:
        """The org's deliveries, newest first, optionally for one job and/or one status."""

    async def close(self) -> None: ...


class WebhookConfigStore(Protocol):
    """The webhook data that must never change behind a receiver's back: endpoints (with their
    secrets) and each org's default signing secrets. A configuration repository (MongoDB or
    the embedded JSON file), never Redis: a Redis that lost its data would otherwise mint a
    new org secret silently and every later signature would fail at the receiver.

    Adapters: `memory_store.MemoryWebhookConfigStore`, `mongo_store.MongoWebhookConfigStore`;
    tests/services/webhooks/test_config_store_contract.py runs one suite against both.
    """

    async def connect(self) -> None:
        """Create indexes (Mongo) or load the saved records (memory)."""

    async def put_endpoint(self, endpoint: Endpoint) -> None: ...

    async def get_endpoint(self, org_id: str, endpoint_id: str) -> Endpoint | None: ...

    async def list_endpoints(self, org_id: str) -> list[Endpoint]:
        """The org's endpoints, oldest first."""

    async def delete_endpoint(self, org_id: str, endpoint_id: str) -> bool: ...

    async def org_secrets(self, org_id: str, initial: list[SigningSecret]) -> list[SigningSecret]:
        """The org's default signing secrets, atomically stored as `initial` on first use."""

    async def put_org_secrets(self, org_id: str, items: list[SigningSecret]) -> None: ...
