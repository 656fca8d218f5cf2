"""Builds the bridge and credential services with their cross-process cache at start-up.

`start_config_services` runs in `build_context`, so every API and worker process holds a
subscription to the invalidation channel before it serves anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.bridges.service import BridgeService
from services.config.cache import ConfigCache, SharedCache
from services.credentials.crypto import KeyRing
from services.credentials.service import CredentialService

if TYPE_CHECKING:
    from services.context import Context


async def start_config_services(ctx: Context) -> None:
    settings = ctx.settings
    keyring = KeyRing.from_settings(settings.security)
    shared: SharedCache | None = None
    if ctx.redis is not None:
        from services.config.redis_cache import RedisSharedCache

        shared = RedisSharedCache(ctx.redis, prefix=settings.redis.key_prefix)
    cache = ConfigCache(
        shared, local_ttl_s=settings.mongo.cache_local_ttl_s,
        shared_ttl_s=settings.mongo.cache_shared_ttl_s,
    )
    await cache.start()
    ctx.on_close(cache.close)
    open_providers = frozenset(settings.providers.openai_compatible)
    ctx.bridges = BridgeService(ctx.config, cache, open_providers=open_providers)
    ctx.credentials = CredentialService(ctx.config, keyring, cache, open_providers=open_providers)


def _local(ctx: Context) -> None:
    """For a Context assembled by hand (tests): in-process cache, no channel."""
    cache = ConfigCache()
    open_providers = frozenset(ctx.settings.providers.openai_compatible)
    ctx.bridges = BridgeService(ctx.config, cache, open_providers=open_providers)
    ctx.credentials = CredentialService(
        ctx.config, KeyRing.from_settings(ctx.settings.security), cache,
        open_providers=open_providers,
    )


def bridges_of(ctx: Context) -> BridgeService:
    if ctx.bridges is None:
        _local(ctx)
    assert ctx.bridges is not None
    return ctx.bridges


def credentials_of(ctx: Context) -> CredentialService:
    if ctx.credentials is None:
        _local(ctx)
    assert ctx.credentials is not None
    return ctx.credentials
