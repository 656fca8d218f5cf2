"""The webhook runtime a process holds, built once by the composition root: the store, the
broker its deliveries go through, the pinned HTTP client, per-endpoint limits and caches."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from config import Settings, WebhookSettings
from services.broker.base import Broker
from services.config.factory import ConfigBackend
from services.net.client import GuardedClient
from services.net.guard import NetPolicy
from services.webhooks.cache import EndpointCache
from services.webhooks.limiter import EndpointLimiter
from services.webhooks.sender import USER_AGENT
from services.webhooks.split_store import SplitWebhookStore
from services.webhooks.store import WebhookConfigStore, WebhookStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


@dataclass
class Webhooks:
    settings: WebhookSettings
    store: WebhookStore
    broker: Broker
    policy: NetPolicy
    http: GuardedClient
    limiter: EndpointLimiter
    endpoints: EndpointCache
    queue_declared: bool = False

    async def close(self) -> None:
        await self.http.aclose()
        await self.store.close()


def policy_from(settings: Settings) -> NetPolicy:
    wh = settings.webhooks
    return NetPolicy.build(
        require_https=settings.app.production, allow_hosts=wh.allow_hosts,
        allow_cidrs=wh.allow_cidrs, connect_timeout_s=wh.connect_timeout_s,
        read_timeout_s=wh.read_timeout_s,
    )


def build_webhooks(
    settings: Settings, store: WebhookStore, broker: Broker, *, policy: NetPolicy | None = None,
) -> Webhooks:
    """Assemble the runtime around `store`; opens no connection."""
    wh = settings.webhooks
    policy = policy or policy_from(settings)
    if settings.app.production and (wh.allow_hosts or wh.allow_cidrs):
        log.warning("webhook allow-list set in production: the private targets it names are "
                    "reachable")
    return Webhooks(
        settings=wh, store=store, broker=broker, policy=policy,
        # Raw bodies (only the first bytes are logged) and one immediate resend when a kept-alive
        # connection was dropped under the request: receivers dedupe on webhook-id.
        http=GuardedClient(policy, user_agent=USER_AGENT, decompress=False,
                           retry_unanswered=True),
        limiter=EndpointLimiter(wh.max_in_flight_per_endpoint),
        endpoints=EndpointCache(store, ttl_s=wh.endpoint_cache_s),
    )


def create_config_store(backend: ConfigBackend) -> WebhookConfigStore:
    """Endpoints and org secrets in the configuration repository (Mongo, else the JSON file)."""
    if backend.mongo is not None:
        from services.webhooks.mongo_store import MongoWebhookConfigStore

        return MongoWebhookConfigStore(backend.mongo)
    from services.webhooks.memory_store import MemoryWebhookConfigStore

    return MemoryWebhookConfigStore(backend.file)


def create_store(settings: Settings, redis: Redis | None, kept: WebhookConfigStore) -> WebhookStore:
    """Records on Redis when the process has a Redis client, in memory otherwise; endpoints
    and secrets always in `kept`."""
    retention = settings.jobs.retention_s
    records: WebhookStore
    if redis is not None:
        from services.webhooks.redis_store import RedisWebhookStore

        records = RedisWebhookStore(redis, key_prefix=settings.redis.key_prefix, retention_s=retention)
    else:
        from services.webhooks.memory_store import MemoryWebhookStore

        records = MemoryWebhookStore(retention)
    return SplitWebhookStore(records, kept)
