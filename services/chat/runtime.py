"""The executor's long-lived parts for one process: providers, breaker, cache, streams,
tool client and the credential hook. Built once at start-up (`attach_runtime`) and reached
through `get_runtime(ctx)`; a Context built without one gets it on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config import Settings
from services.cache.service import ResponseCache
from services.chat.credentials import CredentialResolver, EnvCredentials
from services.chat.stream_store import END, MemoryStreamStore, StreamStore
from services.chat.tools import ToolRunner
from services.errors import Permanent
from services.jobs.events import add_listener
from services.jobs.model import Job
from services.providers.registry import build_registry
from services.providers.types import Provider
from services.resilience.breaker import BreakerConfig, CircuitBreaker
from services.resilience.breaker_memory import MemoryBreakerStore
from services.resilience.retry import RetryPolicy

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from services.context import Context

log = logging.getLogger(__name__)


@dataclass
class ChatRuntime:
    settings: Settings
    providers: Mapping[str, Provider]
    breaker: CircuitBreaker
    cache: ResponseCache
    streams: StreamStore
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
        from services.chat.stream_store_redis import RedisStreamStore
        from services.resilience.breaker_redis import RedisBreakerStore

        breaker_store: Any = RedisBreakerStore(redis, prefix=prefix + "breaker:")
        remote: Any = RedisRemoteCache(redis, prefix=prefix)
        streams: StreamStore = RedisStreamStore(
            redis, prefix=prefix, maxlen=settings.chat.stream_maxlen,
            ttl_s=settings.chat.stream_ttl_s,
        )
    else:
        breaker_store, remote = MemoryBreakerStore(), None
        streams = MemoryStreamStore(
            maxlen=settings.chat.stream_maxlen, ttl_s=settings.chat.stream_ttl_s,
        )
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
        streams=streams,
        tools=ToolRunner(settings.chat, production=settings.app.production),
        credentials=credentials or EnvCredentials(),
        retry=RetryPolicy.from_settings(settings),
    )


def attach_runtime(ctx: Context, runtime: ChatRuntime | None = None) -> ChatRuntime:
    """Put a runtime on the context, close it with the context, and mark the end of each
    streaming job's event log when the job finishes (so SSE readers stop at once)."""
    if runtime is None:
        credentials: CredentialResolver | None = None
        if ctx.credentials is not None:
            # The org's stored (encrypted) credential first, then the environment's.
            from services.credentials.resolve import OrgCredentials

            credentials = OrgCredentials(ctx)
        runtime = build_runtime(ctx.settings, ctx.redis, credentials=credentials,
                                providers=ctx.providers)
    ctx.chat = runtime
    ctx.on_close(runtime.close)

    async def end_stream(ctx: Context, job: Job) -> None:
        if not job.request.get("stream"):
            return
        try:
            await runtime.streams.append(job.id, END, {"status": job.status.value})
        except Exception as exc:
            # Readers also poll the job at each heartbeat; never fail the job's completion.
            log.warning("could not mark the end of the job's stream: %s", type(exc).__name__)

    add_listener(ctx, end_stream)
    return runtime


def get_runtime(ctx: Context) -> ChatRuntime:
    return ctx.chat if ctx.chat is not None else attach_runtime(ctx)
