"""The webhook store the runtime uses: endpoints and org signing secrets from the
configuration repository (they must survive a Redis data loss), events, deliveries and
attempts from the records store (Redis or memory, expiring with job retention)."""

from __future__ import annotations

from services.webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Event, SigningSecret
from services.webhooks.store import DeliveryPage, WebhookConfigStore, WebhookStore


class SplitWebhookStore:
    def __init__(self, records: WebhookStore, kept: WebhookConfigStore) -> None:
        self.records = records
        self.kept = kept

    async def put_endpoint(self, endpoint: Endpoint) -> None:
        await self.kept.put_endpoint(endpoint)

    async def get_endpoint(self, org_id: str, endpoint_id: str) -> Endpoint | None:
        return await self.kept.get_endpoint(org_id, endpoint_id)

    async def list_endpoints(self, org_id: str) -> list[Endpoint]:
        return await self.kept.list_endpoints(org_id)

    async def delete_endpoint(self, org_id: str, endpoint_id: str) -> bool:
        return await self.kept.delete_endpoint(org_id, endpoint_id)

    async def org_secrets(self, org_id: str, initial: list[SigningSecret]) -> list[SigningSecret]:
        return await self.kept.org_secrets(org_id, initial)

    async def put_org_secrets(self, org_id: str, items: list[SigningSecret]) -> None:
        await self.kept.put_org_secrets(org_id, items)

    async def record(self, event: Event, deliveries: list[Delivery]) -> list[tuple[Delivery, bool]]:
        return await self.records.record(event, deliveries)

    async def get_event(self, event_id: str) -> Event | None:
        return await self.records.get_event(event_id)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        return await self.records.get_delivery(delivery_id)

    async def load(self, delivery_id: str, event_id: str) -> tuple[Delivery | None, Event | None]:
        return await self.records.load(delivery_id, event_id)

    async def save_delivery(self, delivery: Delivery) -> None:
        await self.records.save_delivery(delivery)

    async def add_attempt(self, delivery: Delivery, attempt: Attempt) -> None:
        await self.records.add_attempt(delivery, attempt)

    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        return await self.records.list_attempts(delivery_id)

    async def list_deliveries(
        self, org_id: str, *, job_id: str | None = None, status: DeliveryStatus | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> DeliveryPage:
        return await self.records.list_deliveries(org_id, job_id=job_id, status=status, limit=limit,
                                                  cursor=cursor)

    async def close(self) -> None:
        await self.records.close()
