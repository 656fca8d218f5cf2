"""In-process webhook stores for the embedded platform and unit tests: the records (dicts
with TTL) and the kept configuration (endpoints, org secrets; saved to the JSON file)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from services.config.json_file import JsonFile
from services.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    Event,
    SigningSecret,
)
from services.webhooks.store import DeliveryPage

# The embedded JSON file's collections of the configuration store.
ENDPOINTS = "webhook_endpoints"
ORG_SECRETS = "webhook_secrets"

# Writes between sweeps of expired records: keeps the embedded process's memory bounded
# without a timer task.
SWEEP_EVERY = 1000


class MemoryWebhookStore:
    """Same contract as the Redis store; events, deliveries and attempts expire after
    `retention_s`, endpoints and secrets are kept."""

    def __init__(self, retention_s: float, *, clock: Callable[[], float] = time.time) -> None:
        self.retention_s = retention_s
        self._clock = clock
        self._endpoints: dict[str, dict[str, Endpoint]] = {}
        self._secrets: dict[str, list[SigningSecret]] = {}
        # id -> (expires_at, record)
        self._events: dict[str, tuple[float, Event]] = {}
        self._deliveries: dict[str, tuple[float, Delivery]] = {}
        self._attempts: dict[str, list[Attempt]] = {}
        self._writes = 0

    def _live(self, table: dict[str, tuple[float, Any]], key: str) -> Any:
        entry = table.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del table[key]
            self._attempts.pop(key, None)
            return None
        return _copy(entry[1])

    async def put_endpoint(self, endpoint: Endpoint) -> None:
        org = self._endpoints.setdefault(endpoint.org_id, {})
        org[endpoint.id] = _copy(endpoint)

    async def get_endpoint(self, org_id: str, endpoint_id: str) -> Endpoint | None:
        found = self._endpoints.get(org_id, {}).get(endpoint_id)
        return _copy(found) if found else None

    async def list_endpoints(self, org_id: str) -> list[Endpoint]:
        items = self._endpoints.get(org_id, {}).values()
        return [_copy(e) for e in sorted(items, key=lambda e: (e.created_at, e.id))]

    async def delete_endpoint(self, org_id: str, endpoint_id: str) -> bool:
        return self._endpoints.get(org_id, {}).pop(endpoint_id, None) is not None

    async def org_secrets(self, org_id: str, initial: list[SigningSecret]) -> list[SigningSecret]:
        stored = self._secrets.setdefault(org_id, [s.model_copy() for s in initial])
        return [s.model_copy() for s in stored]

    async def put_org_secrets(self, org_id: str, items: list[SigningSecret]) -> None:
        self._secrets[org_id] = [s.model_copy() for s in items]

    async def record(
        self, event: Event, deliveries: list[Delivery],
    ) -> list[tuple[Delivery, bool]]:
        if self._live(self._events, event.id) is None:
            self._events[event.id] = (self._clock() + self.retention_s, event.model_copy())
        out = []
        for delivery in deliveries:
            existing: Delivery | None = self._live(self._deliveries, delivery.id)
            if existing is not None:
                out.append((existing, False))
            else:
                await self.save_delivery(delivery)
                out.append((delivery, True))
        return out

    async def load(self, delivery_id: str, event_id: str) -> tuple[Delivery | None, Event | None]:
        return await self.get_delivery(delivery_id), await self.get_event(event_id)

    async def get_event(self, event_id: str) -> Event | None:
        found: Event | None = self._live(self._events, event_id)
        return found

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        found: Delivery | None = self._live(self._deliveries, delivery_id)
        return found

    async def save_delivery(self, delivery: Delivery) -> None:
        expires = self._clock() + self.retention_s
        self._deliveries[delivery.id] = (expires, _copy(delivery))
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            self._sweep()

    def _sweep(self) -> None:
        """Drop expired records nobody has read since (reads drop them lazily)."""
        now = self._clock()
        for table in (self._events, self._deliveries):
            for key in [k for k, (expires, _) in table.items() if expires <= now]:
                del table[key]
                self._attempts.pop(key, None)

    async def add_attempt(self, delivery: Delivery, attempt: Attempt) -> None:
        self._attempts.setdefault(delivery.id, []).append(attempt.model_copy())
        await self.save_delivery(delivery)

    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        if self._live(self._deliveries, delivery_id) is None:
            return []
        return [a.model_copy() for a in self._attempts.get(delivery_id, [])]

    async def list_deliveries(
        self, org_id: str, *, job_id: str | None = None, status: DeliveryStatus | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> DeliveryPage:
        ids = sorted((k for k in list(self._deliveries) if cursor is None or k < cursor),
                     reverse=True)
        out: list[Delivery] = []
        for key in ids:
            d: Delivery | None = self._live(self._deliveries, key)
            if d is None or d.org_id != org_id:
                continue
            if (job_id and d.job_id != job_id) or (status and d.status != status):
                continue
            if len(out) == limit:
                return DeliveryPage(out, out[-1].id)
            out.append(d)
        return DeliveryPage(out, None)

    async def close(self) -> None:
        return None


def _copy(record: Any) -> Any:
    """A copy callers can change without touching the stored one. Cheaper than a deep copy
    (a third of the embedded delivery path's time when profiled): only the mutable
    containers each record type has are copied."""
    if isinstance(record, Delivery):
        return record.model_copy(update={"headers": dict(record.headers)})
    if isinstance(record, Endpoint):
        return record.model_copy(update={"event_types": list(record.event_types),
                                         "secrets": [s.model_copy() for s in record.secrets]})
    return record.model_copy()


class MemoryWebhookConfigStore:
    """Endpoints and org secrets in dicts, saved to the embedded JSON file when given one and
    re-read when another process changed the file (a worker next to the API, both embedded)."""

    def __init__(self, file: JsonFile | None = None) -> None:
        self._file = file
        self._endpoints: dict[str, Endpoint] = {}
        self._secrets: dict[str, list[SigningSecret]] = {}
        self._generation = -1

    async def connect(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        if self._file is None:
            return
        self._file.sync()
        if self._file.generation == self._generation:
            return
        self._generation = self._file.generation
        self._endpoints, self._secrets = {}, {}
        for raw in self._file.read(ENDPOINTS):
            endpoint = Endpoint.model_validate(raw)
            self._endpoints[endpoint.id] = endpoint
        for raw in self._file.read(ORG_SECRETS):
            self._secrets[raw["id"]] = [SigningSecret.model_validate(s) for s in raw["secrets"]]

    def _save(self) -> None:
        if self._file is not None:
            self._file.write({
                ENDPOINTS: [e.model_dump(mode="json") for e in self._endpoints.values()],
                ORG_SECRETS: [{"id": org, "secrets": [s.model_dump() for s in items]}
                              for org, items in self._secrets.items()],
            })

    async def put_endpoint(self, endpoint: Endpoint) -> None:
        self._refresh()
        self._endpoints[endpoint.id] = _copy(endpoint)
        self._save()

    async def get_endpoint(self, org_id: str, endpoint_id: str) -> Endpoint | None:
        self._refresh()
        found = self._endpoints.get(endpoint_id)
        return _copy(found) if found and found.org_id == org_id else None

    async def list_endpoints(self, org_id: str) -> list[Endpoint]:
        self._refresh()
        items = [e for e in self._endpoints.values() if e.org_id == org_id]
        return [_copy(e) for e in sorted(items, key=lambda e: (e.created_at, e.id))]

    async def delete_endpoint(self, org_id: str, endpoint_id: str) -> bool:
        self._refresh()
        found = self._endpoints.get(endpoint_id)
        if found is None or found.org_id != org_id:
            return False
        del self._endpoints[endpoint_id]
        self._save()
        return True

    async def org_secrets(self, org_id: str, initial: list[SigningSecret]) -> list[SigningSecret]:
        self._refresh()
        if org_id not in self._secrets:
            self._secrets[org_id] = [s.model_copy() for s in initial]
            self._save()
        return [s.model_copy() for s in self._secrets[org_id]]

    async def put_org_secrets(self, org_id: str, items: list[SigningSecret]) -> None:
        self._refresh()
        self._secrets[org_id] = [s.model_copy() for s in items]
        self._save()
