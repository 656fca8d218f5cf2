"""Concurrent script calls share one pipeline and still behave as separate atomic calls."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from services.common.redis_batch import ScriptBatcher

INCR_IF = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v ~= tonumber(ARGV[1]) then return nil end
redis.call('SET', KEYS[1], v + 1)
return v + 1
"""


async def test_concurrent_calls_are_each_atomic_and_answered(redis_url: str, unique: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        script = redis.register_script(INCR_IF)
        batcher = ScriptBatcher(redis)
        key = f"t{unique}:counter"
        # 50 callers all expect 0: exactly one compare-and-set may win.
        results = await asyncio.gather(*(batcher.call(script, [key], [0]) for _ in range(50)))
        assert results.count(1) == 1 and results.count(None) == 49
        assert int(await redis.get(key)) == 1
        await redis.delete(key)
    finally:
        await redis.aclose()


async def test_scripts_are_reloaded_after_a_flush(redis_url: str, unique: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        script = redis.register_script(INCR_IF)
        batcher = ScriptBatcher(redis)
        key = f"t{unique}:flushed"
        await redis.script_flush()  # as after a Redis restart
        results = await asyncio.gather(*(batcher.call(script, [key], [i]) for i in range(3)))
        assert sorted(r for r in results if r is not None) in ([1], [1, 2], [1, 2, 3])
        await redis.script_flush()
        assert await batcher.call(script, [key], [int(await redis.get(key))]) is not None
        await redis.delete(key)
    finally:
        await redis.aclose()


async def test_a_failing_call_fails_alone(redis_url: str, unique: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        good = redis.register_script(INCR_IF)
        bad = redis.register_script("return redis.call('INCR', KEYS[1])")
        batcher = ScriptBatcher(redis)
        await redis.set(f"t{unique}:text", "not a number")
        outcomes = await asyncio.gather(
            batcher.call(good, [f"t{unique}:n"], [0]),
            batcher.call(bad, [f"t{unique}:text"], []),
            return_exceptions=True,
        )
        assert outcomes[0] == 1
        assert isinstance(outcomes[1], Exception)
        await redis.delete(f"t{unique}:n", f"t{unique}:text")
    finally:
        await redis.aclose()
