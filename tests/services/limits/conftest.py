"""The limits adapters under one fixture: the contract suite runs against both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from services.limits.memory_store import MemoryLimitCounters, MemoryPolicyStore
from services.limits.redis_store import RedisLimitCounters, RedisPolicyStore
from tests.conftest import require_env


@asynccontextmanager
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(require_env("REDIS_URI"))
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[object]:
    if request.param == "memory":
        yield MemoryLimitCounters()
        return
    async with redis_client() as client:
        yield RedisLimitCounters(client, prefix=f"t{unique}:")


@pytest.fixture(params=["memory", "redis"])
async def policies(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[object]:
    if request.param == "memory":
        yield MemoryPolicyStore()
        return
    async with redis_client() as client:
        yield RedisPolicyStore(client, prefix=f"t{unique}:")
