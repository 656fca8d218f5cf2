"""Two-level cache for configuration read on every run (bridges, credentials).

Level 1 is a dict in the process; level 2, when Redis is configured, is shared by every
API and worker process. A write to the store calls `invalidate`, which drops the entry
here, bumps its generation and drops it in Redis, then publishes the key on a pub/sub
channel; every other process's listener drops its level-1 copy on receipt (milliseconds
on a LAN), so no process keeps running a version that was replaced.

Generations close the race where a reader fetched the old record just before the write
and would store it after the invalidation: a reader notes the generation before it loads
and stores only if that generation is still current, here and in Redis (a Lua check).
On the embedded backend there is no level 2 and no channel: invalidation is in process.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
FLUSH_ALL = "*"


class SharedCache(Protocol):
    """Level 2 plus the invalidation channel (services/config/redis_cache.py)."""

    async def get(self, key: str) -> bytes | None: ...

    async def generation(self, key: str) -> str: ...

    async def set_if_generation(
        self, key: str, value: bytes, generation: str, ttl_s: float
    ) -> None:
        """Store only while the key's generation is still `generation`."""

    async def invalidate(self, key: str) -> None:
        """Bump the generation, drop the value and tell every subscribed process."""

    @property
    def live(self) -> bool:
        """True while subscribed to the channel; level 1 is bypassed otherwise."""

    async def start(self, on_invalidate: Callable[[str], None]) -> None:
        """Subscribe; `on_invalidate(key)` runs for each message, with FLUSH_ALL after any
        (re)subscription since messages may have been missed. Returns once subscribed."""

    async def close(self) -> None: ...


class ConfigCache:
    def __init__(
        self, shared: SharedCache | None = None, *, local_ttl_s: float = 60.0,
        shared_ttl_s: float = 300.0,
    ) -> None:
        self._shared = shared
        self._local_ttl_s = local_ttl_s
        self._shared_ttl_s = shared_ttl_s
        self._local: dict[str, tuple[float, BaseModel | None]] = {}
        self._generations: dict[str, int] = {}
        self._epoch = 0
        # How many invalidations this process has applied; lets tests and metrics observe.
        self.invalidations = 0

    async def start(self) -> None:
        if self._shared is not None:
            await self._shared.start(self._drop)

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared.close()

    def _drop(self, key: str) -> None:
        self.invalidations += 1
        if key == FLUSH_ALL:
            self._epoch += 1
            self._local.clear()
            return
        self._generations[key] = self._generations.get(key, 0) + 1
        self._local.pop(key, None)

    def _stamp(self, key: str) -> tuple[int, int]:
        return self._epoch, self._generations.get(key, 0)

    async def get(
        self, key: str, model: type[M], load: Callable[[], Awaitable[M | None]], *,
        shared: bool = True, cache_missing: bool = False,
    ) -> M | None:
        """The cached value, else `load()`'s (cached unless None, or even then with
        cache_missing). `shared=False` keeps it out of Redis (e.g. credentials)."""
        local_ok = self._shared is None or self._shared.live
        hit = self._local.get(key) if local_ok else None
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]  # type: ignore[return-value]
        stamp = self._stamp(key)
        use_shared = shared and self._shared is not None
        value: M | None = None
        if use_shared:
            assert self._shared is not None
            raw = await self._shared.get(key)
            if raw is not None:
                value = model.model_validate_json(raw)
        if value is None:
            generation = await self._shared.generation(key) if use_shared and self._shared else ""
            value = await load()
            if value is not None and use_shared and self._shared is not None:
                await self._shared.set_if_generation(
                    key, value.model_dump_json().encode(), generation, self._shared_ttl_s
                )
        if local_ok and (value is not None or cache_missing) and self._stamp(key) == stamp:
            self._local[key] = (time.monotonic() + self._local_ttl_s, value)
        return value

    async def invalidate(self, *keys: str) -> None:
        """Call after the store write: drops every level in every process."""
        for key in keys:
            self._drop(key)
            if self._shared is not None:
                await self._shared.invalidate(key)
