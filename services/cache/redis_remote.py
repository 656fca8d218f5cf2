"""The response cache in Redis: `<prefix>cache:<key>` holds the answer, `...:lock` the
single-flight lock (SET NX PX with a random token, released by compare-and-delete)."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisRemoteCache:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix + "cache:"
        self._unlock = redis.register_script(_UNLOCK)

    async def get(self, key: str) -> tuple[bytes, float] | None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(self._prefix + key)
                pipe.pttl(self._prefix + key)
                value, pttl = await pipe.execute()
        except RedisError as exc:
            log.warning("cache read failed: %s", type(exc).__name__)
            return None
        if value is None:
            return None
        return value, max(pttl, 0) / 1000

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_s * 1000)))
        except RedisError as exc:
            log.warning("cache write failed: %s", type(exc).__name__)

    async def lock(self, key: str, ttl_s: float) -> str | None:
        token = secrets.token_hex(8)
        try:
            taken = await self._redis.set(
                self._prefix + key + ":lock", token, nx=True, px=max(1, int(ttl_s * 1000))
            )
        except RedisError as exc:
            log.warning("cache lock failed: %s", type(exc).__name__)
            return token
        return token if taken else None

    async def unlock(self, key: str, token: str) -> None:
        try:
            await self._unlock(keys=[self._prefix + key + ":lock"], args=[token])
        except RedisError as exc:
            log.warning("cache unlock failed: %s", type(exc).__name__)

    async def locked(self, key: str) -> bool:
        try:
            return bool(await self._redis.exists(self._prefix + key + ":lock"))
        except RedisError:
            return False
