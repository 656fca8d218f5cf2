"""The response cache on its own: LRU, shared store, single-flight; memory and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from config import CacheSettings
from services.cache.lru import LruCache
from services.cache.redis_remote import RedisRemoteCache
from services.cache.service import HIT, MISS, ResponseCache
from tests.conftest import require_env

SETTINGS = CacheSettings(ttl_s=60, lock_ttl_s=5)


class Upstream:
    """Counts calls; each call takes a moment so concurrent callers overlap."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(0.05)
        if self.fail:
            raise RuntimeError("provider down")
        return {"content": f"answer {self.calls}"}


async def _forget(client: Redis, prefix: str) -> None:
    # Named, not SCANned: the shared Redis holds other tests' keys (SCAN costs seconds).
    await client.delete(f"{prefix}cache:{{k}}", f"{prefix}cache:{{k}}:lock")


@pytest.fixture(params=["memory", "redis"])
async def make_cache(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[Any]:
    """A factory of ResponseCache instances sharing one store, as separate processes would."""
    if request.param == "memory":
        yield lambda: ResponseCache(SETTINGS, None)
        return
    client = Redis.from_url(require_env("REDIS_URI"))
    prefix = f"t{unique}:"
    try:
        yield lambda: ResponseCache(SETTINGS, RedisRemoteCache(client, prefix=prefix))
    finally:
        await _forget(client, prefix)
        await client.aclose()


async def test_concurrent_identical_misses_make_one_call(make_cache: Any) -> None:
    cache, upstream = make_cache(), Upstream()
    results = await asyncio.gather(*(cache.get_or_compute("k", upstream) for _ in range(100)))
    assert upstream.calls == 1
    assert sorted(status for _, status in results) == [HIT] * 99 + [MISS]
    assert {answer["content"] for answer, _ in results} == {"answer 1"}
    assert await cache.get_or_compute("k", upstream) == ({"content": "answer 1"}, HIT)


async def test_errors_are_shared_but_never_cached(make_cache: Any) -> None:
    cache, failing = make_cache(), Upstream(fail=True)
    outcomes = await asyncio.gather(*(cache.get_or_compute("k", failing) for _ in range(10)),
                                    return_exceptions=True)
    assert failing.calls == 1
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    working = Upstream()
    assert await cache.get_or_compute("k", working) == ({"content": "answer 1"}, MISS)


async def test_instances_sharing_redis_make_one_call(unique: str) -> None:
    client = Redis.from_url(require_env("REDIS_URI"))
    prefix = f"t{unique}:"
    try:
        # Two processes' worth of caches: separate LRUs and in-flight maps, one Redis.
        one = ResponseCache(SETTINGS, RedisRemoteCache(client, prefix=prefix))
        two = ResponseCache(SETTINGS, RedisRemoteCache(client, prefix=prefix))
        upstream = Upstream()
        results = await asyncio.gather(*(
            cache.get_or_compute("k", upstream) for cache in (one, two) for _ in range(50)))
        assert upstream.calls == 1
        assert [s for _, s in results].count(MISS) == 1
    finally:
        await _forget(client, prefix)
        await client.aclose()


async def test_a_crashed_leader_elsewhere_does_not_block_forever(unique: str) -> None:
    client = Redis.from_url(require_env("REDIS_URI"))
    prefix = f"t{unique}:"
    try:
        remote = RedisRemoteCache(client, prefix=prefix)
        leader = await remote.get_or_lock("k", 0.3)  # a leader that will never answer
        assert leader.token is not None
        cache = ResponseCache(SETTINGS, remote)
        upstream = Upstream()
        assert (await cache.get_or_compute("k", upstream))[1] == MISS
        assert upstream.calls == 1
    finally:
        await _forget(client, prefix)
        await client.aclose()


def test_lru_evicts_the_least_recent_and_skips_large_entries() -> None:
    lru = LruCache(max_entries=2, max_entry_bytes=10)
    lru.set("a", b"1", 60)
    lru.set("b", b"2", 60)
    assert lru.get("a") == b"1"
    lru.set("c", b"3", 60)
    assert lru.get("b") is None and lru.get("a") == b"1" and lru.get("c") == b"3"
    lru.set("big", b"x" * 11, 60)
    assert lru.get("big") is None
    lru.set("gone", b"1", 0)
    assert lru.get("gone") is None


async def test_a_live_leader_renews_its_lock_through_a_long_computation(unique: str) -> None:
    client = Redis.from_url(require_env("REDIS_URI"))
    prefix = f"t{unique}:"
    short = CacheSettings(ttl_s=60, lock_ttl_s=0.6)
    try:
        one = ResponseCache(short, RedisRemoteCache(client, prefix=prefix))
        two = ResponseCache(short, RedisRemoteCache(client, prefix=prefix))
        calls = 0

        async def slow() -> dict[str, Any]:
            nonlocal calls
            calls += 1
            await asyncio.sleep(1.5)  # far past the lock's own 0.6 s lifetime
            return {"content": "slow"}

        async def later() -> tuple[dict[str, Any], str]:
            await asyncio.sleep(0.1)
            return await two.get_or_compute("k", slow)

        first, second = await asyncio.gather(one.get_or_compute("k", slow), later())
        assert calls == 1
        assert (first[1], second) == (MISS, ({"content": "slow"}, HIT))
    finally:
        await _forget(client, prefix)
        await client.aclose()
