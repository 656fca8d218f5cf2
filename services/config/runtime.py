"""Builds the bridge and credential services with their cross-process cache at start-up.

The composition root (services/context.py) calls `start_config_services`, so every API and
worker process holds a subscription to the invalidation channel before it serves anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from config import Settings
from services.bridges.service import BridgeService
from services.config.cache import ConfigCache, SharedCache
from services.config.store import ConfigStore
from services.credentials.crypto import KeyRing
from services.credentials.service import CredentialService

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass
class ConfigServices:
    cache: ConfigCache
    bridges: BridgeService
    credentials: CredentialService

    async def close(self) -> None:
        await self.cache.close()


async def start_config_services(settings: Settings, store: ConfigStore, redis: Redis | None) -> ConfigServices:
    shared: SharedCache | None = None
    if redis is not None:
        from services.config.redis_cache import RedisSharedCache

        shared = RedisSharedCache(redis, prefix=settings.redis.key_prefix)
    cache = ConfigCache(
        shared, local_ttl_s=settings.mongo.cache_local_ttl_s,
        shared_ttl_s=settings.mongo.cache_shared_ttl_s,
    )
    await cache.start()
    open_providers = frozenset(settings.providers.openai_compatible)
    keyring = KeyRing.from_settings(settings.security)
    return ConfigServices(
        cache=cache,
        bridges=BridgeService(store, cache, open_providers=open_providers),
        credentials=CredentialService(store, keyring, cache, open_providers=open_providers),
    )
