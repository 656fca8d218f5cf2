"""The response cache in Redis: `<prefix>cache:<key>` holds the answer, `...:lock` the
single-flight lock (a random token, SET NX PX; released by compare-and-delete). Both
scripts touch one key and its lock, which share a hash tag, so they run on Redis Cluster too.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from services.cache.remote import Lookup

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# -> {value, pttl} on a hit; {'', 1} when we took the lock; {'', 0} when someone holds it.
_GET_OR_LOCK = """
local value = redis.call('GET', KEYS[1])
if value then return {value, redis.call('PTTL', KEYS[1])} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'', 1} end
return {'', 0}
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisRemoteCache:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix + "cache:"
        self._get_or_lock = redis.register_script(_GET_OR_LOCK)
        self._extend = redis.register_script(_EXTEND)
        self._unlock = redis.register_script(_UNLOCK)

    def _keys(self, key: str) -> tuple[str, str]:
        name = f"{self._prefix}{{{key}}}"
        return name, name + ":lock"

    async def get(self, key: str) -> Lookup:
        name = self._keys(key)[0]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(name)
                pipe.pttl(name)
                value, pttl = await pipe.execute()
        except RedisError as exc:
            log.warning("cache read failed: %s", type(exc).__name__)
            return Lookup()
        return Lookup(value=value, ttl_s=max(pttl, 0) / 1000) if value else Lookup()

    async def get_or_lock(self, key: str, lock_ttl_s: float) -> Lookup:
        token = secrets.token_hex(8)
        try:
            value, extra = await self._get_or_lock(
                keys=self._keys(key), args=[token, max(1, int(lock_ttl_s * 1000))])
        except RedisError as exc:
            log.warning("cache lookup failed: %s", type(exc).__name__)
            return Lookup(token=token)
        if value:
            return Lookup(value=value, ttl_s=max(int(extra), 0) / 1000)
        return Lookup(token=token if int(extra) == 1 else None)

    async def set(self, key: str, value: bytes, ttl_s: float, *, unlock: str | None = None) -> None:
        name, lock = self._keys(key)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(name, value, px=max(1, int(ttl_s * 1000)))
                if unlock is not None:
                    await self._unlock(keys=[lock], args=[unlock], client=pipe)
                await pipe.execute()
        except RedisError as exc:
            log.warning("cache write failed: %s", type(exc).__name__)

    async def extend(self, key: str, token: str, ttl_s: float) -> bool:
        try:
            return bool(await self._extend(keys=[self._keys(key)[1]],
                                           args=[token, max(1, int(ttl_s * 1000))]))
        except RedisError as exc:
            log.warning("cache lock renewal failed: %s", type(exc).__name__)
            return False

    async def unlock(self, key: str, token: str) -> None:
        try:
            await self._unlock(keys=[self._keys(key)[1]], args=[token])
        except RedisError as exc:
            log.warning("cache unlock failed: %s", type(exc).__name__)

    async def locked(self, key: str) -> bool:
        try:
            return bool(await self._redis.exists(self._keys(key)[1]))
        except RedisError:
            return False
