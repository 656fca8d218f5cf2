"""Vectors cached by content hash: an in-process LRU, and Redis shared by every process.

Keys are `blake2b(org, provider, model, text)`: the same text embedded twice by one org
costs one provider call, and one org's texts never answer another's lookups (a hit is
faster than a miss, which would tell one org what another embedded).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Protocol

import numpy as np


def cache_key(org_id: str, provider: str, model: str, text: str) -> str:
    digest = hashlib.blake2b(digest_size=20)
    for part in (org_id, provider, model, text):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


class VectorCache(Protocol):
    """Content-hash -> vector. Misses are None; writes are best effort."""

    async def get_many(self, keys: list[str]) -> list[list[float] | None]: ...

    async def set_many(self, items: dict[str, list[float]]) -> None: ...


class MemoryVectorCache:
    """LRU bounded by entries: 50,000 vectors of 256 floats is ~50 MB as Python lists."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._max = max(1, max_entries)
        self._items: OrderedDict[str, list[float]] = OrderedDict()

    async def get_many(self, keys: list[str]) -> list[list[float] | None]:
        out: list[list[float] | None] = []
        for key in keys:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            out.append(found)
        return out

    async def set_many(self, items: dict[str, list[float]]) -> None:
        for key, vector in items.items():
            self._items[key] = vector
            self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)


class RedisVectorCache:
    """float32 bytes under `<prefix>emb:<hash>` with a TTL (a 256-dim vector is 1 KB)."""

    def __init__(self, redis: Any, *, prefix: str = "aim:", ttl_s: int = 7 * 24 * 3600) -> None:
        self._redis = redis
        self._prefix = f"{prefix}emb:"
        self._ttl_s = ttl_s

    async def get_many(self, keys: list[str]) -> list[list[float] | None]:
        if not keys:
            return []
        raw = await self._redis.mget([self._prefix + k for k in keys])
        return [np.frombuffer(v, dtype=np.float32).tolist() if v else None for v in raw]

    async def set_many(self, items: dict[str, list[float]]) -> None:
        if not items:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, vector in items.items():
            pipe.set(self._prefix + key, np.asarray(vector, dtype=np.float32).tobytes(), ex=self._ttl_s)
        await pipe.execute()


class TieredVectorCache:
    """The LRU in front of Redis: a local hit costs no round trip."""

    def __init__(self, local: VectorCache, shared: VectorCache) -> None:
        self._local = local
        self._shared = shared

    async def get_many(self, keys: list[str]) -> list[list[float] | None]:
        found = await self._local.get_many(keys)
        missing = [k for k, v in zip(keys, found, strict=True) if v is None]
        if not missing:
            return found
        shared = dict(zip(missing, await self._shared.get_many(missing), strict=True))
        await self._local.set_many({k: v for k, v in shared.items() if v is not None})
        return [v if v is not None else shared.get(k) for k, v in zip(keys, found, strict=True)]

    async def set_many(self, items: dict[str, list[float]]) -> None:
        await self._local.set_many(items)
        await self._shared.set_many(items)
