"""The webhook runtime a process holds in `ctx.webhooks`, built once at start-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from config import Settings, WebhookSettings
from services.errors import Unavailable
from services.net.guard import NetPolicy
from services.net.http1 import PinnedHttp1Client
from services.webhooks.cache import EndpointCache
from services.webhooks.limiter import EndpointLimiter
from services.webhooks.sender import USER_AGENT
from services.webhooks.store import WebhookStore

if TYPE_CHECKING:
    from services.context import Context

log = logging.getLogger(__name__)


@dataclass
class Webhooks:
    settings: WebhookSettings
    store: WebhookStore
    policy: NetPolicy
    http: PinnedHttp1Client
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
    settings: Settings, store: WebhookStore, *, policy: NetPolicy | None = None,
) -> Webhooks:
    """Assemble the runtime around `store`; opens no connection."""
    wh = settings.webhooks
    policy = policy or policy_from(settings)
    if settings.app.production and (wh.allow_hosts or wh.allow_cidrs):
        log.warning("webhook allow-list set in production: the private targets it names are "
                    "reachable")
    return Webhooks(
        settings=wh, store=store, policy=policy,
        http=PinnedHttp1Client(policy, user_agent=USER_AGENT),
        limiter=EndpointLimiter(wh.max_in_flight_per_endpoint),
        endpoints=EndpointCache(store, ttl_s=wh.endpoint_cache_s),
    )


def create_store(ctx: Context) -> WebhookStore:
    """Redis when the process has a Redis client, in memory otherwise."""
    retention = ctx.settings.jobs.retention_s
    if ctx.redis is not None:
        from services.webhooks.redis_store import RedisWebhookStore

        return RedisWebhookStore(ctx.redis, key_prefix=ctx.settings.redis.key_prefix,
                                 retention_s=retention)
    from services.webhooks.memory_store import MemoryWebhookStore

    return MemoryWebhookStore(retention)


def install(ctx: Context, *, policy: NetPolicy | None = None) -> Webhooks:
    """Attach webhooks to `ctx`: the store, the HTTP client and the job-finished listener."""
    from services.jobs.events import add_listener
    from services.webhooks.dispatch import on_job_finished

    runtime = build_webhooks(ctx.settings, create_store(ctx), policy=policy)
    ctx.webhooks = runtime
    add_listener(ctx, on_job_finished)
    ctx.on_close(runtime.close)
    return runtime


def runtime_of(ctx: Context) -> Webhooks:
    if ctx.webhooks is None:
        raise Unavailable("webhooks are not set up in this process")
    return ctx.webhooks
