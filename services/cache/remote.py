"""The shared cache port behind the in-process LRU (Redis in production; none embedded)."""

from __future__ import annotations

from typing import Protocol


class RemoteCache(Protocol):
    """Answers shared by every process, plus the lock that makes misses single-flight.

    Adapters swallow and log their own connection errors (returning None / False), so an
    outage of the cache only costs hits, never a request.
    """

    async def get(self, key: str) -> tuple[bytes, float] | None:
        """The stored answer and its remaining lifetime in seconds."""

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def lock(self, key: str, ttl_s: float) -> str | None:
        """Take the compute lock for `key`; the token to release it, or None if held."""

    async def unlock(self, key: str, token: str) -> None:
        """Release the lock if `token` still holds it."""

    async def locked(self, key: str) -> bool: ...
