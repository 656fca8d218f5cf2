"""Builds the cross-process config cache at start-up.

Started in every API and worker process before it serves anything, so each holds a
subscription to the invalidation channel (services/config/cache.py). On the embedded
backend (no Redis) the cache is in process only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from config import Settings
from services.config.cache import ConfigCache, SharedCache

if TYPE_CHECKING:
    from redis.asyncio import Redis


async def start_config_cache(settings: Settings, redis: Redis | None) -> ConfigCache:
    """A started cache: the caller owns it and must `close()` it."""
    shared: SharedCache | None = None
    if redis is not None:
        from services.config.redis_cache import RedisSharedCache

        shared = RedisSharedCache(redis, prefix=settings.redis.key_prefix)
    cache = ConfigCache(
        shared, local_ttl_s=settings.mongo.cache_local_ttl_s,
        shared_ttl_s=settings.mongo.cache_shared_ttl_s,
    )
    await cache.start()
    return cache
