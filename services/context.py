"""The clients a process needs, built once at start-up and passed to every handler.

`build_context` picks the embedded or the production adapter for each port from the
settings (a URL set means the real service) and connects them; `Context.close` releases
them. Nothing here runs at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config import Settings
from services.broker.base import Broker
from services.jobs.store import JobStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from services.auth.service import KeyService
    from services.bridges.service import BridgeService
    from services.chat.runtime import ChatRuntime
    from services.credentials.service import CredentialService
    from services.metrics.sink import MetricsSink
    from services.providers.registry import ProviderRegistry
    from services.stores import Stores
    from services.webhooks.runtime import Webhooks


@dataclass
class Context:
    settings: Settings
    broker: Broker
    jobs: JobStore
    # The config repositories (API keys, bridges, credentials) on their shared backend.
    stores: Stores
    # Platform API keys: authentication and each org's keys.
    keys: KeyService
    # Bridge configs and provider credentials, cached with cross-process invalidation
    # (services.stores.start_config_services).
    bridges: BridgeService
    credentials: CredentialService
    # The shared Redis client (None on the embedded backend): cache, breakers, streams.
    redis: Redis | None = None
    # Provider name -> adapter (services/providers/registry.py).
    providers: ProviderRegistry | None = None
    # Process role, tagged on connections and logs: "all", "api" or "worker".
    role: str = "all"
    # Where metric rows go and usage is read (services.metrics.setup; opened on first use).
    metrics: MetricsSink | None = None
    # Webhook store, HTTP client and limits (services.webhooks.runtime.install).
    webhooks: Webhooks | None = None
    # The chat executor's providers, breaker, cache and streams (services.chat.runtime).
    chat: ChatRuntime | None = None
    # Domain services attach here at start-up (providers, cache, metrics, webhooks...).
    extras: dict[str, Any] = field(default_factory=dict)
    _closers: list[Any] = field(default_factory=list)

    def on_close(self, closer: Any) -> None:
        """Register an async callable to run at shutdown (last registered runs first)."""
        self._closers.append(closer)

    async def close(self) -> None:
        for closer in reversed(self._closers):
            await closer()
        self._closers.clear()


async def build_context(settings: Settings, *, role: str = "all") -> Context:
    redis_client = None
    jobs: JobStore
    if settings.redis.url:
        from services.common.redis import create_redis
        from services.jobs.redis_store import RedisJobStore

        redis_client = create_redis(settings, role=role)
        jobs = RedisJobStore(redis_client, settings)
    else:
        from services.jobs.memory_store import MemoryJobStore

        jobs = MemoryJobStore(settings)

    broker: Broker
    if settings.rabbit.url:
        from services.broker.rabbit import RabbitBroker

        broker = RabbitBroker(settings.rabbit, role=role)
    else:
        from services.broker.memory import MemoryBroker

        broker = MemoryBroker(delivery_limit=settings.rabbit.delivery_limit)

    from services.auth.service import KeyService
    from services.stores import create_stores, start_config_services

    stores = create_stores(settings)
    await stores.connect()
    config = await start_config_services(settings, stores, redis_client)
    ctx = Context(settings=settings, broker=broker, jobs=jobs, stores=stores,
                  keys=KeyService(stores.keys), bridges=config.bridges,
                  credentials=config.credentials, redis=redis_client, role=role)
    ctx.on_close(stores.close)
    await broker.connect()
    ctx.on_close(broker.close)
    ctx.on_close(jobs.close)
    if redis_client is not None:
        ctx.on_close(redis_client.aclose)
    ctx.on_close(config.close)
    from services.metrics.setup import install_metrics

    await install_metrics(ctx)
    from services.webhooks.runtime import install as install_webhooks

    install_webhooks(ctx)
    from services.providers.registry import build_registry

    ctx.providers = build_registry(settings)
    ctx.on_close(ctx.providers.aclose)
    from services.chat.runtime import attach_runtime

    attach_runtime(ctx)
    return ctx


def data_path(settings: Settings, name: str) -> Path:
    return Path(settings.app.data_dir) / name
