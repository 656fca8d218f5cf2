"""One suite for the turn order: the in-process adapter and the Redis one on a real server
(two adapters over one Redis stand for two worker processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from services.threads.memory_order_store import MemoryTurnOrder
from services.threads.order_store import Grant, TurnOrder
from services.threads.redis_order_store import RedisTurnOrder

Factory = Callable[..., TurnOrder]


@pytest.fixture(params=["memory", "redis"])
async def orders(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[Factory]:
    """Makes adapters that share one backend (memory: one instance stands for all)."""
    if request.param == "memory":
        shared: dict[str, MemoryTurnOrder] = {}

        def memory(**kw: Any) -> TurnOrder:
            return shared.setdefault("one", MemoryTurnOrder(**kw))

        yield memory
        return
    url = request.getfixturevalue("redis_url")
    clients: list[Redis] = []

    def real(**kw: Any) -> TurnOrder:
        client = Redis.from_url(url)
        clients.append(client)
        return RedisTurnOrder(client, key_prefix=f"t{unique}:", **kw)

    yield real
    if clients:
        keys = [k async for k in clients[0].scan_iter(f"t{unique}:*")]
        if keys:
            await clients[0].delete(*keys)
    for client in clients:
        await client.aclose()


async def test_turn_numbers_follow_submission_and_respect_the_floor(orders: Factory) -> None:
    order = orders()
    assert [await order.assign("thr_a") for _ in range(3)] == [1, 2, 3]
    assert await order.assign("thr_b") == 1
    # A counter lost (Redis flushed, expired) is re-seeded above the thread's stored turns.
    assert await order.assign("thr_c", floor=41) == 42
    assert (await order.acquire("thr_c", 42, "job_42")).grant is Grant.GRANTED


async def test_a_later_turn_waits_and_a_finished_turn_is_done(orders: Factory) -> None:
    order = orders()
    await order.assign("thr"), await order.assign("thr")
    assert (await order.acquire("thr", 2, "job_2")).grant is Grant.WAIT
    assert (await order.acquire("thr", 1, "job_1")).grant is Grant.GRANTED
    # Another process with the same turn waits; the same job (a redelivery) takes it back.
    assert (await order.acquire("thr", 1, "job_other")).grant is Grant.WAIT
    assert (await order.acquire("thr", 1, "job_1")).grant is Grant.GRANTED
    assert await order.finish("thr", 1) == 2
    assert (await order.acquire("thr", 1, "job_1")).grant is Grant.DONE
    assert (await order.acquire("thr", 2, "job_2")).grant is Grant.GRANTED


async def test_other_threads_are_not_held_up(orders: Factory) -> None:
    order = orders()
    for thread in ("thr_x", "thr_y"):
        await order.assign(thread)
    assert (await order.acquire("thr_x", 1, "job_x")).grant is Grant.GRANTED
    assert (await order.acquire("thr_y", 1, "job_y")).grant is Grant.GRANTED


async def test_exactly_one_of_many_concurrent_workers_gets_the_turn(orders: Factory) -> None:
    adapters = [orders() for _ in range(4)]
    await adapters[0].assign("thr")
    grants = await asyncio.gather(*(a.acquire("thr", 1, f"job_{i}") for i, a in enumerate(adapters * 5)))
    assert sum(g.grant is Grant.GRANTED for g in grants) == 1


async def test_a_dead_workers_lease_expires(orders: Factory) -> None:
    order = orders(lease_s=0.2)
    await order.assign("thr")
    assert (await order.acquire("thr", 1, "job_dead")).grant is Grant.GRANTED
    assert await order.renew("thr", "job_dead")
    await asyncio.sleep(0.3)
    assert (await order.acquire("thr", 1, "job_new")).grant is Grant.GRANTED
    assert not await order.renew("thr", "job_dead")


async def test_pause_keeps_the_turn_first_in_line(orders: Factory) -> None:
    order = orders()
    await order.assign("thr"), await order.assign("thr")
    assert (await order.acquire("thr", 1, "job_1")).grant is Grant.GRANTED
    assert await order.pause("thr", "job_1")
    assert (await order.acquire("thr", 2, "job_2")).grant is Grant.WAIT
    assert (await order.acquire("thr", 1, "job_1")).grant is Grant.GRANTED


async def test_turns_finished_ahead_of_the_cursor_are_skipped_later(orders: Factory) -> None:
    order = orders()
    for _ in range(3):
        await order.assign("thr")
    assert await order.finish("thr", 2) == 1  # turn 2 was cancelled while queued
    assert (await order.acquire("thr", 2, "job_2")).grant is Grant.DONE
    assert await order.finish("thr", 1) == 3
    assert (await order.acquire("thr", 3, "job_3")).grant is Grant.GRANTED


async def test_a_vanished_turn_is_skipped_after_the_stall_time_one_at_a_time(orders: Factory) -> None:
    order = orders(stall_s=0.3)
    for _ in range(3):
        await order.assign("thr")
    assert (await order.acquire("thr", 3, "job_3")).grant is Grant.WAIT
    await asyncio.sleep(0.4)
    # Turn 1's job never came: it is skipped, but turn 2 (alive) still runs before turn 3.
    assert (await order.acquire("thr", 3, "job_3")).grant is Grant.WAIT
    assert (await order.acquire("thr", 2, "job_2")).grant is Grant.GRANTED
    assert (await order.acquire("thr", 1, "job_1")).grant is Grant.DONE


async def test_forget_resets_a_deleted_thread(orders: Factory) -> None:
    order = orders()
    await order.assign("thr"), await order.assign("thr")
    await order.forget("thr")
    assert await order.assign("thr") == 1


async def test_redis_counters_expire_when_a_thread_goes_idle(redis_url: str, unique: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        order = RedisTurnOrder(client, key_prefix=f"t{unique}:", ttl_s=600)
        await order.assign("thr")
        await order.acquire("thr", 1, "job_1")
        await order.finish("thr", 2)
        keys = [k async for k in client.scan_iter(f"t{unique}:*")]
        assert len(keys) == 3
        ttls = [await client.ttl(k) for k in keys]
        assert all(0 < ttl <= 600 for ttl in ttls), ttls
        await order.forget("thr")
        assert [k async for k in client.scan_iter(f"t{unique}:*")] == []
    finally:
        await client.aclose()
