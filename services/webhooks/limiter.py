"""Per-endpoint concurrency limit.

In process only: each worker process holds one semaphore per endpoint, so the limit an
endpoint sees is `max_in_flight_per_endpoint` x the number of webhook worker processes. A
semaphore is dropped as soon as nobody holds or waits on it, so one-off per-request URLs
do not accumulate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class EndpointLimiter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one of `limit` slots for `key` (an endpoint id, or a URL's origin)."""
        sem, users = self._slots.get(key) or (asyncio.Semaphore(self.limit), 0)
        self._slots[key] = (sem, users + 1)
        try:
            async with sem:
                yield
        finally:
            sem, users = self._slots[key]
            if users == 1:
                del self._slots[key]
            else:
                self._slots[key] = (sem, users - 1)

    def in_use(self, key: str) -> int:
        """Holders plus waiters for `key` (0 when idle)."""
        entry = self._slots.get(key)
        return entry[1] if entry else 0
