"""One contract for both job event logs (Redis streams and the in-memory twin)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from services.jobs.redis_stream_store import RedisStreamStore
from services.jobs.stream_store import CHUNK, END, MemoryStreamStore, StreamStore, parse_id
from tests.conftest import require_env


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[StreamStore]:
    if request.param == "memory":
        yield MemoryStreamStore(maxlen=1000, ttl_s=60)
        return
    client = Redis.from_url(require_env("REDIS_URI"))
    prefix = f"t{unique}:"
    try:
        yield RedisStreamStore(client, prefix=prefix, maxlen=1000, ttl_s=60)
        ttl = await client.ttl(prefix + "stream:job-1")
        assert ttl == -2 or 0 < ttl <= 60  # every log expires
    finally:
        await client.delete(prefix + "stream:job-1", prefix + "stream:other-job")
        await client.aclose()


async def test_entries_come_back_in_order_after_an_id(store: StreamStore) -> None:
    ids = [await store.append("job-1", CHUNK, {"delta": str(i)}) for i in range(5)]
    assert ids == sorted(ids, key=parse_id) and len(set(ids)) == 5
    everything = await store.read("job-1", None)
    assert [e.data["delta"] for e in everything] == ["0", "1", "2", "3", "4"]
    assert [e.id for e in everything] == ids
    rest = await store.read("job-1", ids[2])
    assert [e.data["delta"] for e in rest] == ["3", "4"]
    assert await store.read("job-1", ids[-1]) == []
    assert await store.read("other-job", None) == []


async def test_a_blocked_read_wakes_on_append(store: StreamStore) -> None:
    first = await store.append("job-1", CHUNK, {"delta": "a"})
    reader = asyncio.create_task(store.read("job-1", first, block_s=5))
    await asyncio.sleep(0.05)
    assert not reader.done()
    await store.append("job-1", END, {"status": "succeeded"})
    [entry] = await asyncio.wait_for(reader, 5)
    assert (entry.event, entry.data) == (END, {"status": "succeeded"})


async def test_a_blocked_read_times_out_empty(store: StreamStore) -> None:
    assert await store.read("job-1", None, block_s=0.05) == []


async def test_logs_are_capped(unique: str) -> None:
    memory = MemoryStreamStore(maxlen=3, ttl_s=60)
    for i in range(10):
        await memory.append("j", CHUNK, {"i": i})
    assert [e.data["i"] for e in await memory.read("j", None)] == [7, 8, 9]
