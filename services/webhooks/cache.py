"""Endpoints as the delivery path reads them: kept in process for a moment.

Every attempt needs its endpoint (URL, enabled flag, secrets). Reading it from Redis each
time was one of three round trips per delivery; at 1 s the cache takes it out of almost
every attempt while a change made in another process (disable, rotate, delete) applies
within that second. A rotated secret stays valid through the overlap, so receivers never
see a signature they cannot verify. Writes made in this process drop the entry at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.webhooks.models import Endpoint
from services.webhooks.store import WebhookStore

# Entries beyond this are dropped oldest-first: bounds memory with many endpoints.
MAX_ENTRIES = 10_000


class EndpointCache:
    def __init__(self, store: WebhookStore, *, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl = ttl_s
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, Endpoint | None]] = {}

    async def get(self, org_id: str, endpoint_id: str) -> Endpoint | None:
        """The endpoint (read-only: change it through the store), at most `ttl_s` old."""
        key = (org_id, endpoint_id)
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and entry[0] > now:
            return entry[1]
        endpoint = await self._store.get_endpoint(org_id, endpoint_id)
        if self._ttl > 0:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (now + self._ttl, endpoint)
        return endpoint

    def forget(self, org_id: str, endpoint_id: str) -> None:
        self._entries.pop((org_id, endpoint_id), None)
