"""The config cache: level 1 in process, level 2 in Redis, pub/sub invalidation between
processes (two caches on two Redis clients stand for two processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from services.bridges.model import Variable
from services.bridges.schemas import BridgeCreate, BridgeUpdate
from services.bridges.service import BridgeService
from services.config.cache import ConfigCache
from services.config.redis_cache import RedisSharedCache
from tests.services.bridges.test_service import CountingStore

# An upper bound for a pub/sub message to arrive, not a latency assertion.
DELIVERY_DEADLINE_S = 5.0


class Item(BaseModel):
    value: int


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(DELIVERY_DEADLINE_S):
        while not await check():
            await asyncio.sleep(0.01)


async def test_a_value_read_while_it_was_invalidated_is_not_kept() -> None:
    cache = ConfigCache()
    calls = 0

    async def load() -> Item:
        nonlocal calls
        calls += 1
        if calls == 1:
            await cache.invalidate("k")  # a write lands while this read is in flight
        return Item(value=calls)

    assert await cache.get("k", Item, load) == Item(value=1)
    assert await cache.get("k", Item, load) == Item(value=2)
    assert await cache.get("k", Item, load) == Item(value=2)


async def test_missing_values_are_cached_only_when_asked() -> None:
    cache = ConfigCache()
    calls = 0

    async def load() -> Item | None:
        nonlocal calls
        calls += 1
        return None

    await cache.get("a", Item, load)
    await cache.get("a", Item, load)
    await cache.get("b", Item, load, cache_missing=True)
    await cache.get("b", Item, load, cache_missing=True)
    assert calls == 3


@pytest.fixture
async def two_processes(
    redis_url: str, unique: str
) -> AsyncIterator[tuple[ConfigCache, ConfigCache]]:
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    caches = [ConfigCache(RedisSharedCache(c, prefix=f"t{unique}:")) for c in clients]
    for cache in caches:
        await cache.start()
    try:
        yield caches[0], caches[1]
    finally:
        for cache in caches:
            await cache.close()
        keys = await clients[0].keys(f"t{unique}:*")
        if keys:
            await clients[0].delete(*keys)
        for client in clients:
            await client.aclose()


@pytest.mark.redis
async def test_a_publish_in_one_process_reaches_the_other(
    two_processes: tuple[ConfigCache, ConfigCache],
) -> None:
    cache_a, cache_b = two_processes
    store = CountingStore()  # stands for the MongoDB both processes share
    api = BridgeService(store, cache_a)
    worker = BridgeService(store, cache_b)
    bridge = await api.create("org", BridgeCreate(
        name="b", system_prompt="v1 {{x}}", variables=[Variable(name="x")],
    ))
    assert (await worker.resolve("org", bridge.id)).version == 1
    reads = store.reads
    assert (await worker.resolve("org", bridge.id)).version == 1
    assert store.reads == reads  # served from the worker's own level 1

    seen = cache_b.invalidations
    await api.update("org", bridge.id, BridgeUpdate(system_prompt="v2 {{x}}"))
    await api.publish("org", bridge.id)

    async def worker_told() -> bool:
        return cache_b.invalidations > seen

    await eventually(worker_told)
    resolved = await worker.resolve("org", bridge.id)
    assert resolved.version == 2 and resolved.spec.system_prompt == "v2 {{x}}"


@pytest.mark.redis
async def test_level_two_serves_a_process_with_a_cold_level_one(
    two_processes: tuple[ConfigCache, ConfigCache],
) -> None:
    cache_a, cache_b = two_processes
    loads = 0

    async def load() -> Item:
        nonlocal loads
        loads += 1
        return Item(value=7)

    assert await cache_a.get("shared", Item, load) == Item(value=7)
    assert await cache_b.get("shared", Item, load) == Item(value=7)
    assert loads == 1  # the second process read Redis, not the store
    await cache_a.invalidate("shared")
    assert await cache_a.get("shared", Item, load) == Item(value=7)
    assert loads == 2


@pytest.mark.redis
async def test_private_entries_never_reach_redis(
    two_processes: tuple[ConfigCache, ConfigCache], redis_url: str, unique: str,
) -> None:
    cache_a, _ = two_processes

    async def load() -> Item:
        return Item(value=1)

    await cache_a.get("cred:org:openai", Item, load, shared=False)
    client = Redis.from_url(redis_url)
    try:
        assert [k for k in await client.keys(f"t{unique}:*") if b"cred:" in k] == []
    finally:
        await client.aclose()
