"""One contract for the scheduler's stores, run against the in-process and the Redis adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from config import RedisSettings, Settings
from services.jobs.memory_store import MemoryJobStore
from services.jobs.model import Job, JobKind
from services.jobs.store import Created, JobStore
from services.scheduling.memory_store import MemoryCapacity, MemoryFairQueue
from services.scheduling.store import CapacityStore, FairQueue, Learnt, Limits, Picked, dispatch_window
from tests.conftest import require_env


@dataclass
class Stores:
    capacity: CapacityStore
    queue: FairQueue
    # Where the queue's hold records jobs.
    jobs: JobStore


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[Stores]:
    if request.param == "memory":
        jobs = MemoryJobStore(Settings())
        yield Stores(MemoryCapacity(), MemoryFairQueue(jobs), jobs)
        return
    from redis.asyncio import Redis

    from services.jobs.redis_store import RedisJobStore
    from services.scheduling.redis_store import RedisCapacity, RedisFairQueue

    redis = Redis.from_url(require_env("REDIS_URI"))
    redis_jobs = RedisJobStore(redis, Settings(redis=RedisSettings(key_prefix=f"t{unique}:")))
    try:
        yield Stores(RedisCapacity(redis, f"t{unique}:"), RedisFairQueue(redis, f"t{unique}:", redis_jobs), redis_jobs)
    finally:
        await redis.aclose()


async def test_reservations_are_spaced_a_window_over_the_limit_apart(stores: Stores) -> None:
    capacity = stores.capacity
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
    stores: Stores,
) -> None:
    capacity = stores.capacity
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


async def test_tokens_per_window_hold_back_a_large_request(stores: Stores) -> None:
    capacity = stores.capacity
    key = "anthropic:k:m"
    assert await capacity.reserve(key, Limits(tokens=1000), tokens=800, now=0.0, window_s=60, headroom=1.0,
                                  max_wait_s=1000) == 0.0
    # 800 of 1000 tokens used: another 800 fits once 600 have refilled (36 s).
    assert await capacity.reserve(key, Limits(tokens=1000), tokens=800, now=0.0, window_s=60, headroom=1.0,
                                  max_wait_s=1000) == pytest.approx(36.0)


async def test_weighted_round_robin_and_priorities(stores: Stores) -> None:
    queue = stores.queue
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


async def test_dispatched_jobs_bound_what_is_picked_until_they_start(stores: Stores) -> None:
    queue = stores.queue
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


async def test_the_dispatch_window_grows_to_a_share_of_a_second_of_starts(stores: Stores) -> None:
    queue = stores.queue
    for i in range(300):
        await queue.push("model", "a", 1, f"j{i}", 1.0)
    # 120 starts over 99.0-100.0 are a rate of 120/s: 0.25 s of it is 30 jobs ahead, not 2.
    for i in range(120):
        await queue.started("model", f"s{i}", 99.001 + i / 120)
    assert len(await queue.pick("model", owner="d1", now=100.01, ahead=2, ahead_s=0.25, stale_s=60, limit=100)) == 30
    # Without `ahead_s` the window is `ahead`, whatever the rate (the 30 above still count).
    assert await queue.pick("model", owner="d1", now=100.01, ahead=2, stale_s=60, limit=100) == []
    # A kind that began starting 0.2 s ago is read at its rate since: 40 starts in 200.0-200.19
    # are 200/s, so 0.5 s of it is 100 ahead, 70 more than the 30 out. (Whole seconds read
    # it as 40/s, and collapsed the window at each second's first tick.)
    for i in range(40):
        await queue.started("model", f"t{i}", 200.002 + i / 200)
    more = await queue.pick("model", owner="d1", now=200.21, ahead=2, ahead_s=0.5, stale_s=600, limit=100)
    assert len(more) == 70
    # A window never shrinks below `ahead`: with no starts it is 2, and 100 are still out.
    assert await queue.pick("model", owner="d1", now=500.0, ahead=2, ahead_s=0.25, stale_s=600, limit=100) == []


def test_the_window_reads_the_highest_recent_rate_over_two_buckets_or_more() -> None:
    assert dispatch_window(200, 0.25, [400] * 10) == 1000  # 4,000/s throughout
    assert dispatch_window(200, 0.25, [300, 300, 0, 0, 0, 0, 0, 0, 0, 0]) == 750  # began 0.2 s ago
    assert dispatch_window(200, 0.25, [900, 0, 0]) == 1125  # one bucket alone is read over two
    assert dispatch_window(200, 0.25, [10] * 10) == 200  # slower than ahead / ahead_s
    assert dispatch_window(200, 0, [10_000] * 10) == 200


async def test_claims_of_a_dispatcher_that_is_gone_pass_to_a_sweeper_once(
    stores: Stores,
) -> None:
    queue = stores.queue
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


def _job(org: str, **kw: object) -> Job:
    return Job.model_validate({"org_id": org, "kind": JobKind.MODEL, "request": {"messages": []}, **kw})


async def _hold(stores: Stores, job: Job, *, owner: str = "d1", now: float = 0.0, ahead: int = 100,
                body_hash: str | None = None) -> tuple[Created, list[Picked]]:
    return await stores.queue.hold(job, body_hash=body_hash, org_id=job.org_id, priority=1, weight=1.0, owner=owner,
                                   now=now, ahead=ahead, stale_s=600, limit=100)


async def test_a_hold_records_the_job_and_gives_its_org_a_fair_turn(stores: Stores) -> None:
    queue = stores.queue
    for i in range(5):
        await queue.push("model", "big", 1, f"big{i}", 1.0)
    job = _job("small")
    created, picked = await _hold(stores, job, ahead=3)
    # The same step recorded the job and dispatched it after one quantum of the big org's
    # backlog, not after the backlog.
    assert created.created and created.job.id == job.id
    assert await stores.jobs.get(job.id) == job
    assert [(p.job_id, p.org_id) for p in picked] == [("big0", "big"), (job.id, "small"), ("big1", "big")]
    # With the dispatch window full the next one is recorded and parked, its place known.
    later = _job("small")
    created, picked = await _hold(stores, later, ahead=3)
    assert created.created and picked == []
    assert await stores.jobs.get(later.id) == later
    place = await queue.place("model", "small", 1, later.id, 0.0)
    assert place.held and place.same == 0 and place.dispatched == 3
    assert await queue.backlog("model") == 4


async def test_what_a_hold_picked_is_claimed_until_confirmed_and_swept_if_its_owner_dies(stores: Stores) -> None:
    queue = stores.queue
    lost, confirmed = _job("org-a"), _job("org-a")
    _, picked = await _hold(stores, lost, owner="dead")
    assert [(p.job_id, p.org_id, p.priority) for p in picked] == [(lost.id, "org-a", 1)]
    _, picked = await _hold(stores, confirmed, owner="live")
    await queue.confirm("model", [p.job_id for p in picked])
    # The submitting process died before the broker confirmed `lost`: a sweeper takes it, once.
    swept = await queue.sweep("model", owner="sweeper", now=100.0, lease_s=30, limit=10)
    assert [(p.job_id, p.org_id, p.priority) for p in swept] == [(lost.id, "org-a", 1)]
    await queue.confirm("model", [lost.id])
    assert await queue.sweep("model", owner="other", now=1000.0, lease_s=30, limit=10) == []


async def test_a_hold_under_a_seen_idempotency_key_records_and_parks_nothing(stores: Stores) -> None:
    first = _job("org-a", idempotency_key="k")
    created, picked = await _hold(stores, first, body_hash="h1", ahead=0)
    assert created.created and picked == []
    again = _job("org-a", idempotency_key="k")
    created, picked = await _hold(stores, again, body_hash="h1")
    # The earlier job comes back; nothing of the replay is recorded, pushed or dispatched.
    assert (created.created, created.conflict, created.job.id) == (False, False, first.id)
    assert picked == []
    assert await stores.jobs.get(again.id) is None
    assert await stores.queue.backlog("model") == 1
    other, _ = await _hold(stores, _job("org-a", idempotency_key="k"), body_hash="h2")
    assert other.conflict and other.job.id == first.id


async def test_a_redis_hold_is_one_round_trip_and_survives_an_expired_earlier_job(
    unique: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from redis.asyncio import Redis

    from services.jobs.redis_store import RedisJobStore
    from services.scheduling.redis_store import RedisFairQueue

    redis = Redis.from_url(require_env("REDIS_URI"))
    try:
        jobs = RedisJobStore(redis, Settings(redis=RedisSettings(key_prefix=f"t{unique}:")))
        stores = Stores(MemoryCapacity(), RedisFairQueue(redis, f"t{unique}:", jobs), jobs)
        first = _job("org-a", idempotency_key="k")
        await _hold(stores, first, body_hash="h", ahead=0)  # loads the script
        sent: list[object] = []
        execute = redis.execute_command

        async def counting(*args: object, **options: object) -> object:
            sent.append(args[0])
            return await execute(*args, **options)

        monkeypatch.setattr(redis, "execute_command", counting)
        job = _job("org-a")
        created, picked = await _hold(stores, job)
        # Record, push and pick: one script, one round trip.
        assert sent == ["EVALSHA"]
        assert created.created and [p.job_id for p in picked] == [first.id, job.id]
        # The job its key names expired first: the key is released and this job held afresh.
        await redis.delete(f"t{unique}:job:{first.id}")
        retried = _job("org-a", idempotency_key="k")
        created, picked = await _hold(stores, retried, body_hash="h")
        assert created.created and created.job.id == retried.id
        assert [p.job_id for p in picked] == [retried.id]
    finally:
        await redis.aclose()
