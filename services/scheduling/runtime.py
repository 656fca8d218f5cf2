"""Build the scheduler from settings: Redis adapters when Redis is configured, else in-process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from config import Settings
from services.broker.base import Broker
from services.jobs.lifecycle import JobLifecycle
from services.jobs.store import JobStore
from services.scheduling.batches import BatchService
from services.scheduling.capacity import Capacity, CredentialLookup
from services.scheduling.provider_batches import ProviderBatches
from services.scheduling.service import Scheduler
from services.scheduling.store import BatchStore, FairQueue

if TYPE_CHECKING:
    from redis.asyncio import Redis


def build_capacity(settings: Settings, redis: Redis | None,
                   credentials: CredentialLookup | None = None) -> Capacity:
    if redis is not None:
        from services.scheduling.redis_store import RedisCapacity

        return Capacity(RedisCapacity(redis, settings.redis.key_prefix + "sched:"), settings.scheduling,
                        credentials)
    from services.scheduling.memory_store import MemoryCapacity

    return Capacity(MemoryCapacity(), settings.scheduling, credentials)


def build_scheduler(settings: Settings, redis: Redis | None, capacity: Capacity, broker: Broker,
                    jobs: JobStore) -> Scheduler:
    if redis is not None:
        from services.jobs.redis_store import RedisJobStore
        from services.scheduling.redis_store import RedisFairQueue

        # A submit records the job and holds it in one script: the job store must be Redis's.
        if not isinstance(jobs, RedisJobStore):
            raise TypeError(f"the Redis fair queue records jobs in the Redis job store, not {type(jobs).__name__}")
        queue: FairQueue = RedisFairQueue(redis, settings.redis.key_prefix + "sched:", jobs)
    else:
        from services.scheduling.memory_store import MemoryFairQueue

        queue = MemoryFairQueue(jobs)
    return Scheduler(capacity, queue, broker, jobs, settings.scheduling)


def build_batches(settings: Settings, redis: Redis | None, lifecycle: JobLifecycle, providers: Mapping[str, Any],
                  credentials: CredentialLookup | None = None) -> BatchService:
    if redis is not None:
        from services.scheduling.redis_store import RedisBatches

        store: BatchStore = RedisBatches(redis, settings.redis.key_prefix + "sched:", settings.jobs.retention_s)
    else:
        from services.scheduling.memory_store import MemoryBatches

        store = MemoryBatches()
    return BatchService(store, lifecycle,
                        ProviderBatches(store, lifecycle, providers, credentials, settings.scheduling))
