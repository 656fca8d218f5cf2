"""One contract for the scheduler's stores, run against the in-process and the Redis adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.scheduling.memory_store import MemoryCapacity, MemoryFairQueue
from services.scheduling.store import CapacityStore, FairQueue, Learnt, Limits
from tests.conftest import require_env


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[tuple[CapacityStore, FairQueue]]:
    if request.param == "memory":
        yield MemoryCapacity(), MemoryFairQueue()
        return
    from redis.asyncio import Redis

    from services.scheduling.redis_store import RedisCapacity, RedisFairQueue

    redis = Redis.from_url(require_env("REDIS_URI"))
    try:
        yield RedisCapacity(redis, f"t{unique}:"), RedisFairQueue(redis, f"t{unique}:")
    finally:
        await redis.aclose()


async def test_reservations_are_spaced_a_window_over_the_limit_apart(stores: tuple[CapacityStore, FairQueue]) -> None:
    capacity, _ = stores
    waits = [await capacity.reserve("openai:k:m", Limits(requests=10), tokens=1, now=100.0, window_s=60,
                                    headroom=1.0, max_wait_s=1000) for _ in range(4)]
    assert waits == pytest.approx([0.0, 6.0, 12.0, 18.0])
    # Past the caller's longest wait nothing is reserved: the next one still gets slot 4.
    assert await capacity.reserve("openai:k:m", Limits(requests=10), tokens=1, now=100.0, window_s=60,
                                  headroom=1.0, max_wait_s=20) is None
    assert await capacity.reserve("openai:k:m", Limits(requests=10), tokens=1, now=100.0, window_s=60,
                                  headroom=1.0, max_wait_s=1000) == pytest.approx(24.0)
    # The headroom applies to a configured limit too: 10 a minute used at 50% is one per 12 s.
    spaced = [await capacity.reserve("openai:k:h", Limits(requests=10), tokens=1, now=0.0, window_s=60,
                                     headroom=0.5, max_wait_s=1000) for _ in range(2)]
    assert spaced == pytest.approx([0.0, 12.0])


async def test_a_learnt_limit_tighter_than_the_configured_one_wins_and_a_429_lowers_it(
    stores: tuple[CapacityStore, FairQueue],
) -> None:
    capacity, _ = stores
    key = "openai:k:m2"
    await capacity.learn(key, Learnt(limit_requests=5), Limits(requests=10))
    assert (await capacity.limits(key)).requests == 5
    first = await capacity.reserve(key, Limits(requests=10), tokens=1, now=0.0, window_s=60, headroom=1.0,
                                   max_wait_s=1000)
    second = await capacity.reserve(key, Limits(requests=10), tokens=1, now=0.0, window_s=60, headroom=1.0,
                                    max_wait_s=1000)
    assert (first, second) == pytest.approx((0.0, 12.0))
    await capacity.learn(key, Learnt(blocked_until=100.0, throttle=0.5), Limits(requests=10))
    assert (await capacity.limits(key)).requests == pytest.approx(2.5)
    # Blocked until the provider's retry-after ends.
    assert await capacity.reserve(key, Limits(), tokens=1, now=50.0, window_s=60, headroom=1.0,
                                  max_wait_s=1000) == pytest.approx(50.0)


async def test_tokens_per_window_hold_back_a_large_request(stores: tuple[CapacityStore, FairQueue]) -> None:
    capacity, _ = stores
    key = "anthropic:k:m"
    assert await capacity.reserve(key, Limits(tokens=1000), tokens=800, now=0.0, window_s=60, headroom=1.0,
                                  max_wait_s=1000) == 0.0
    # 800 of 1000 tokens used: another 800 fits once 600 have refilled (36 s).
    assert await capacity.reserve(key, Limits(tokens=1000), tokens=800, now=0.0, window_s=60, headroom=1.0,
                                  max_wait_s=1000) == pytest.approx(36.0)


async def test_weighted_round_robin_and_priorities(stores: tuple[CapacityStore, FairQueue]) -> None:
    _, queue = stores
    for i in range(6):
        await queue.push("model", "a", 1, f"a{i}", 2.0)
    for i in range(3):
        await queue.push("model", "b", 2, f"b{i}", 1.0)
    await queue.push("model", "b", 0, "b-high", 1.0)
    picked = await queue.pick("model", owner="d1", now=0.0, ahead=100, stale_s=60, limit=6)
    # a has twice b's weight; b's high-priority job leaves before its low ones.
    assert [p.job_id for p in picked] == ["a0", "a1", "b-high", "a2", "a3", "b0"]
    assert (await queue.place("model", "b", 2, "b2", 0.0)).same == 1
    assert await queue.backlog("model") == 4


async def test_dispatched_jobs_bound_what_is_picked_until_they_start(stores: tuple[CapacityStore, FairQueue]) -> None:
    _, queue = stores
    for i in range(5):
        await queue.push("model", "a", 1, f"j{i}", 1.0)
    first = await queue.pick("model", owner="d1", now=0.0, ahead=2, stale_s=60, limit=10)
    assert [p.job_id for p in first] == ["j0", "j1"]
    assert await queue.pick("model", owner="d1", now=0.0, ahead=2, stale_s=60, limit=10) == []
    await queue.started("model", "j0", 0.0)
    assert [p.job_id for p in await queue.pick("model", owner="d1", now=0.0, ahead=2, stale_s=60, limit=10)] == ["j2"]
    # A failed publish puts the job back at the front of its list.
    again = await queue.pick("model", owner="d1", now=100.0, ahead=2, stale_s=60, limit=10)  # j1, j2 went stale
    await queue.restore("model", again, {"a": 1.0})
    place = await queue.place("model", "a", 1, again[0].job_id, 100.0)
    assert place.held and place.same == 0


async def test_claims_of_a_dispatcher_that_is_gone_pass_to_a_sweeper_once(
    stores: tuple[CapacityStore, FairQueue],
) -> None:
    _, queue = stores
    for i in range(4):
        await queue.push("model", "a", 1, f"j{i}", 1.0)
    taken = await queue.pick("model", owner="dead", now=0.0, ahead=10, stale_s=600, limit=3)
    await queue.confirm("model", [taken[0].job_id])  # published; j1, j2 were not
    alive = await queue.pick("model", owner="alive", now=0.0, ahead=10, stale_s=600, limit=1)
    # Within the lease nothing moves, whoever asks.
    assert await queue.sweep("model", owner="sweeper", now=20.0, lease_s=30, limit=10) == []
    await queue.pick("model", owner="alive", now=25.0, ahead=10, stale_s=600, limit=10)  # a sign of life
    swept = await queue.sweep("model", owner="sweeper", now=40.0, lease_s=30, limit=10)
    # Only the dead owner's unconfirmed jobs, with their org and priority; not the live one's.
    assert [(p.job_id, p.org_id, p.priority) for p in swept] == [("j1", "a", 1), ("j2", "a", 1)]
    assert alive[0].job_id == "j3"
    # They are the sweeper's now: a second sweeper does not take them again.
    assert await queue.sweep("model", owner="other", now=41.0, lease_s=30, limit=10) == []
    await queue.confirm("model", ["j1", "j2"])
    # Confirmed claims are gone; the once-live owner's claim passes on when it falls silent too.
    later = await queue.sweep("model", owner="other", now=500.0, lease_s=30, limit=10)
    assert [p.job_id for p in later] == ["j3"]
