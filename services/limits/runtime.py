"""Builds the Governor from settings: Redis counters when a client is given, else dicts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from config import GovernanceSettings
from services.limits.memory_store import MemoryLimitCounters, MemoryPolicyStore
from services.limits.service import Governor, GovernorConfig
from services.limits.store import LimitCounters, PolicyStore

if TYPE_CHECKING:
    from redis.asyncio import Redis


def build_governor(
    settings: GovernanceSettings, redis: Redis | None, *, prefix: str, reservation_ttl_s: int,
) -> Governor:
    """The Governor of one process; `prefix` namespaces its Redis keys."""
    counters: LimitCounters
    policies: PolicyStore
    if redis is not None:
        from services.limits.redis_store import RedisLimitCounters, RedisPolicyStore

        counters, policies = RedisLimitCounters(redis, prefix=prefix), RedisPolicyStore(redis, prefix=prefix)
    else:
        counters, policies = MemoryLimitCounters(), MemoryPolicyStore()
    config = GovernorConfig(
        default_output_tokens=settings.default_output_tokens, slot_lease_s=settings.slot_lease_s,
        reservation_ttl_s=reservation_ttl_s, process_max_streams=settings.process_max_streams,
        process_max_inline=settings.process_max_inline, policy_cache_s=settings.policy_cache_s,
    )
    return Governor(counters, policies, config)


def redis_prefix(key_prefix: str) -> str:
    """Where governance keys live under the settings' Redis prefix (API and workers agree)."""
    return key_prefix + "gov:"


def job_settler(governor: Governor) -> Callable[[Any], Awaitable[None]]:
    """A job listener (services/jobs/events.py) settling a finished queued job's reservation."""

    async def settle(job: Any) -> None:
        await governor.settle_job(job.id, job.meta)

    return settle
