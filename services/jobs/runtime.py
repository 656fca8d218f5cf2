"""Factories for the job domain's stores: Redis when the process has a client, in process
otherwise (the embedded backend of `python index.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from config import Settings
from services.jobs.store import JobStore
from services.jobs.stream_store import MemoryStreamStore, StreamStore

if TYPE_CHECKING:
    from redis.asyncio import Redis


def create_job_store(settings: Settings, redis: Redis | None) -> JobStore:
    if redis is not None:
        from services.jobs.redis_store import RedisJobStore

        return RedisJobStore(redis, settings)
    from services.jobs.memory_store import MemoryJobStore

    return MemoryJobStore(settings)


def create_stream_store(settings: Settings, redis: Redis | None) -> StreamStore:
    """Where queued streaming jobs' chunks wait for SSE readers on any API process."""
    if redis is not None:
        from services.jobs.redis_stream_store import RedisStreamStore

        return RedisStreamStore(redis, prefix=settings.redis.key_prefix, maxlen=settings.chat.stream_maxlen,
                                ttl_s=settings.chat.stream_ttl_s)
    return MemoryStreamStore(maxlen=settings.chat.stream_maxlen, ttl_s=settings.chat.stream_ttl_s)
