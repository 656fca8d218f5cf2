"""The chat executor's long-lived parts for one process: providers, breaker, cache, tool
client and the credential hook. Built once by the composition root (services/context.py)
and handed to the ChatExecutor.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config import Settings
from services.cache.service import ResponseCache
from services.chat.credentials import CredentialResolver, EnvCredentials
from services.chat.tools import ToolRunner
from services.errors import Permanent
from services.providers.registry import build_registry
from services.providers.types import Provider
from services.resilience.breaker import BreakerConfig, CircuitBreaker
from services.resilience.breaker_memory import MemoryBreakerStore
from services.resilience.retry import RetryPolicy

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


@dataclass
class ChatRuntime:
    settings: Settings
    providers: Mapping[str, Provider]
    breaker: CircuitBreaker
    cache: ResponseCache
    tools: ToolRunner
    credentials: CredentialResolver
    retry: RetryPolicy
    # True when the runtime built its own provider registry (then it closes it too).
    owns_providers: bool = False

    def provider(self, name: str) -> Provider:
        found = self.providers.get(name)
        if found is None:
            raise Permanent(f"unknown provider {name!r}", code="unknown_provider")
        return found

    async def close(self) -> None:
        await self.tools.aclose()
        closer = getattr(self.providers, "aclose", None)
        if self.owns_providers and closer is not None:
            await closer()


def build_runtime(
    settings: Settings, redis: Redis | None, *, providers: Mapping[str, Provider] | None = None,
    credentials: CredentialResolver | None = None,
) -> ChatRuntime:
    """Redis-backed breaker, cache and streams when `redis` is given, in-memory otherwise.

    Without `providers`, the runtime builds (and later closes) its own registry.
    """
    prefix = settings.redis.key_prefix
    if redis is not None:
        from services.cache.redis_remote import RedisRemoteCache
        from services.resilience.breaker_redis import RedisBreakerStore

        breaker_store: Any = RedisBreakerStore(redis, prefix=prefix + "breaker:")
        remote: Any = RedisRemoteCache(redis, prefix=prefix)
    else:
        breaker_store, remote = MemoryBreakerStore(), None
    return ChatRuntime(
        settings=settings,
        providers=providers if providers is not None else build_registry(settings),
        owns_providers=providers is None,
        breaker=CircuitBreaker(
            breaker_store, BreakerConfig.from_settings(settings),
            # In process the store is as cheap as a local copy of it.
            local_ttl_s=settings.resilience.breaker_local_ttl_s if redis is not None else 0.0,
        ),
        cache=ResponseCache(settings.cache, remote),
        tools=ToolRunner(settings.chat, production=settings.app.production),
        credentials=credentials or EnvCredentials(),
        retry=RetryPolicy.from_settings(settings),
    )
