"""Concurrent script calls share one command per script and still behave as separate
atomic calls."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

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


class CountingRedis:
    """Counts the EVALSHA commands the batcher sends (alone or in a pipeline)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.commands = 0
        evalsha, pipeline = redis.evalsha, redis.pipeline

        def counted_evalsha(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.commands += 1
            return evalsha(*args, **kwargs)

        def counted_pipeline(*args, **kwargs):  # type: ignore[no-untyped-def]
            pipe = pipeline(*args, **kwargs)
            inner = pipe.evalsha

            def pipe_evalsha(*a, **k):  # type: ignore[no-untyped-def]
                self.commands += 1
                return inner(*a, **k)

            pipe.evalsha = pipe_evalsha  # type: ignore[method-assign]
            return pipe

        redis.evalsha = counted_evalsha  # type: ignore[method-assign]
        redis.pipeline = counted_pipeline  # type: ignore[method-assign]


async def test_calls_of_one_tick_to_one_script_are_one_command_each_still_compare_and_set(
    redis_url: str, unique: str,
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        counting = CountingRedis(redis)
        script = redis.register_script(INCR_IF)
        batcher = ScriptBatcher(redis)
        key = f"t{unique}:one-tick"
        # 100 callers expect 0 and 100 more expect 1, all in one tick: the first of each
        # group wins (the calls run in order), every other one sees the value moved on.
        results = await asyncio.gather(*(batcher.call(script, [key], [expect])
                                         for expect in [0] * 100 + [1] * 100))
        assert counting.commands == 1
        assert results[0] == 1 and results[100] == 2
        assert results.count(None) == 198
        assert int(await redis.get(key)) == 2
        await redis.delete(key)
    finally:
        await redis.aclose()


async def test_calls_made_while_sends_are_out_wait_and_go_together(redis_url: str, unique: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        counting = CountingRedis(redis)
        script = redis.register_script("return redis.call('INCR', KEYS[1])")
        batcher = ScriptBatcher(redis)
        key = f"t{unique}:group"
        calls = []
        for _ in range(60):
            calls.append(asyncio.ensure_future(batcher.call(script, [key], [])))
            await asyncio.sleep(0)  # one call per loop tick
        assert sorted(await asyncio.gather(*calls)) == list(range(1, 61))
        # One command per tick would be 60; while two sends are out the others wait and
        # leave together when one comes back.
        assert counting.commands < 40
        await redis.delete(key)
    finally:
        await redis.aclose()


async def test_a_failing_call_among_calls_of_its_script_fails_alone(redis_url: str, unique: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        script = redis.register_script("return redis.call('INCR', KEYS[1])")
        batcher = ScriptBatcher(redis)
        await redis.set(f"t{unique}:text", "not a number")
        outcomes = await asyncio.gather(
            batcher.call(script, [f"t{unique}:n"], []),
            batcher.call(script, [f"t{unique}:text"], []),
            batcher.call(script, [f"t{unique}:n"], []),
            return_exceptions=True,
        )
        assert outcomes[0] == 1 and outcomes[2] == 2
        assert isinstance(outcomes[1], ResponseError)
        await redis.delete(f"t{unique}:n", f"t{unique}:text")
    finally:
        await redis.aclose()


async def test_arguments_reach_the_script_as_redis_py_would_send_them(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        echo = redis.register_script("return ARGV")
        nothing = redis.register_script("return nil")
        batcher = ScriptBatcher(redis)
        answers = await asyncio.gather(batcher.call(echo, [], ["text", 7, 2.5, b"bytes", 1795999926.5712643]),
                                       batcher.call(echo, [], []), batcher.call(nothing, [], []))
        assert answers == [[b"text", b"7", b"2.5", b"bytes", b"1795999926.5712643"], [], None]
        with pytest.raises(TypeError):
            await batcher.call(echo, [], [True])
    finally:
        await redis.aclose()


async def test_each_answer_is_what_the_script_answers_on_its_own(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        batcher = ScriptBatcher(redis)
        bodies = ["return nil", "return false", "return true", "return 7", "return 'x'", "return {}",
                  "return {1, 'two', {3}}", "return {ok = 'OK'}"]
        scripts = [redis.register_script(b) for b in bodies]
        alone = [await s(keys=[], args=[]) for s in scripts]
        batched = await asyncio.gather(*(batcher.call(s, [], []) for s in scripts for _ in range(2)))
        assert batched == [a for a in alone for _ in range(2)]
    finally:
        await redis.aclose()


async def test_a_returned_error_reply_raises_as_it_would_alone(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        script = redis.register_script("return redis.error_reply('refused')")
        with pytest.raises(ResponseError, match="refused"):
            await script(keys=[], args=[])
        batcher = ScriptBatcher(redis)
        outcomes = await asyncio.gather(*(batcher.call(script, [], []) for _ in range(2)),
                                        return_exceptions=True)
        assert all(isinstance(o, ResponseError) and "refused" in str(o) for o in outcomes)
    finally:
        await redis.aclose()
