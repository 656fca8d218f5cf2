"""The shared cache port behind the in-process LRU (Redis in production; none embedded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Lookup:
    """What `get_or_lock` found: the answer (and its remaining lifetime), or the compute
    lock's token when we took it, or neither when another process holds the lock."""

    value: bytes | None = None
    ttl_s: float = 0.0
    token: str | None = None


class RemoteCache(Protocol):
    """Answers shared by every process, plus the lock that makes misses single-flight.

    A miss costs two round trips (`get_or_lock`, then `set` with the unlock), a hit one.
    Adapters swallow and log their own connection errors (a lookup then finds nothing and
    grants the lock), so an outage of the cache only costs hits, never a request.
    """

    async def get(self, key: str) -> Lookup:
        """The stored answer, without taking the lock (an empty Lookup when absent)."""

    async def get_or_lock(self, key: str, lock_ttl_s: float) -> Lookup:
        """The stored answer, else take the compute lock for `key` if it is free."""

    async def set(self, key: str, value: bytes, ttl_s: float, *, unlock: str | None = None) -> None:
        """Store the answer; with `unlock`, release that lock token in the same round trip."""

    async def extend(self, key: str, token: str, ttl_s: float) -> bool:
        """Renew the lock's lifetime if `token` still holds it."""

    async def unlock(self, key: str, token: str) -> None:
        """Release the lock if `token` still holds it."""

    async def locked(self, key: str) -> bool: ...
