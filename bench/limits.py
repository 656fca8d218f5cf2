"""The limiter's cost: Governor.admit (+ settle) on real Redis beside a bare PING, and the
time a key revocation takes to reach another process's cache.

    PYTHONPATH=. .venv/bin/python bench/limits.py --requests 4000

Admit runs one Lua script for every check of the request (here 4: org rpm, org tpm, key
rpm, org daily budget); settle one more. Figures: µs per request one at a time (latency),
requests/s and checks/s with 64 in flight (throughput), each beside PING measured the same
way in the same run, and the embedded adapter's µs per admit for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from redis.asyncio import Redis

from bench.common import service_env
from services.auth.authenticator import Authenticator
from services.auth.keys import ApiKey, generate_key
from services.auth.memory_revocation_store import MemoryKeyUsageStore
from services.auth.redis_revocation_store import RedisRevocationBus
from services.errors import Unauthorized
from services.limits.checks import Caller
from services.limits.estimate import Estimate
from services.limits.memory_store import MemoryLimitCounters, MemoryPolicyStore
from services.limits.model import LimitPolicy
from services.limits.redis_store import RedisLimitCounters, RedisPolicyStore
from services.limits.service import Governor, GovernorConfig

PAYLOAD = {"provider": "openai", "model": "gpt-5-mini", "max_tokens": 200,
           "messages": [{"role": "user", "content": "hello there"}]}
HUGE = 10**7


async def _policies(store: RedisPolicyStore | MemoryPolicyStore) -> None:
    await store.put("org", "org", "org", LimitPolicy(requests_per_minute=HUGE, tokens_per_minute=HUGE,
                                                      daily_budget_usd=1e7))
    await store.put("org", "key", "key", LimitPolicy(requests_per_minute=HUGE))


async def _one(governor: Governor, i: int) -> None:
    admitted = await governor.admit(Caller("org", "key"), PAYLOAD)
    await governor.settle(admitted.reservation, Estimate(100, 50))


async def _admit_only(governor: Governor, i: int) -> None:
    await governor.admit(Caller("org", "key"), PAYLOAD)


async def _timed(n: int, in_flight: int, step) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    if in_flight == 1:
        for i in range(n):
            await step(i)
    else:
        sem = asyncio.Semaphore(in_flight)

        async def guarded(i: int) -> None:
            async with sem:
                await step(i)

        await asyncio.gather(*[guarded(i) for i in range(n)])
    return time.perf_counter() - started


async def revocation_latency(url: str, prefix: str, rounds: int) -> list[float]:
    """ms from the revoking process's publish until another process refuses the key."""
    keys: dict[str, ApiKey] = {}

    async def find(key_hash: str) -> ApiKey | None:
        return keys.get(key_hash)

    a_redis, b_redis = Redis.from_url(url), Redis.from_url(url)
    a = Authenticator(find, RedisRevocationBus(a_redis, prefix=prefix), MemoryKeyUsageStore(), ttl_s=300)
    b = Authenticator(find, RedisRevocationBus(b_redis, prefix=prefix), MemoryKeyUsageStore(), ttl_s=300)
    await a.start()
    await b.start()
    out = []
    for _ in range(rounds):
        raw, record = generate_key("org")
        keys[record.key_hash] = record
        await b.authenticate(f"Bearer {raw}")
        keys[record.key_hash] = record.model_copy(update={"revoked": True})
        started = time.perf_counter()
        await a.revoked(record.id)
        while True:
            try:
                await b.authenticate(f"Bearer {raw}")
            except Unauthorized:
                break
            await asyncio.sleep(0)
        out.append((time.perf_counter() - started) * 1000)
    await a.close()
    await b.close()
    await a_redis.aclose()
    await b_redis.aclose()
    return out


async def main(n: int) -> None:
    url = service_env()["REDIS_URI"]
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    redis = Redis.from_url(url, max_connections=128)
    policies = RedisPolicyStore(redis, prefix=prefix)
    await _policies(policies)
    governor = Governor(RedisLimitCounters(redis, prefix=prefix), policies, GovernorConfig())
    memory = Governor(MemoryLimitCounters(), MemoryPolicyStore(), GovernorConfig())
    await _policies(memory.policies)  # type: ignore[arg-type]

    async def ping(_: int) -> None:
        await redis.ping()

    await _timed(200, 1, lambda i: _one(governor, i))  # warm up: scripts loaded, pool filled
    rows = []
    for label, in_flight in (("one at a time", 1), ("64 in flight", 64)):
        t_ping = await _timed(n, in_flight, ping)
        t_admit = await _timed(n, in_flight, lambda i: _one(governor, i))
        t_only = await _timed(n, in_flight, lambda i: _admit_only(governor, i))
        rows.append((label, t_ping, t_admit, t_only))
    t_mem = await _timed(n, 1, lambda i: _one(memory, i))
    print(f"requests per measurement: {n}; checks per admit: 4 (+1 settle script)")
    for label, t_ping, t_admit, t_only in rows:
        print(f"{label}: PING {t_ping / n * 1e6:.0f} us ({n / t_ping:,.0f}/s); admit+settle "
              f"{t_admit / n * 1e6:.0f} us ({n / t_admit:,.0f} req/s = {4 * n / t_admit:,.0f} checks/s); "
              f"admit alone {t_only / n * 1e6:.0f} us ({n / t_only:,.0f} req/s); "
              f"admit+settle / PING = {t_admit / t_ping:.2f}x, admit / PING = {t_only / t_ping:.2f}x")
    print(f"embedded adapter: admit+settle {t_mem / n * 1e6:.0f} us")
    latencies = await revocation_latency(url, prefix, 50)
    print(f"revocation reaches another process: p50 {statistics.median(latencies):.2f} ms, "
          f"max {max(latencies):.2f} ms over {len(latencies)} revocations")
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    asyncio.run(main(parser.parse_args().requests))
