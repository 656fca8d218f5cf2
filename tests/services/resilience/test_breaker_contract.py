"""One contract for both circuit stores: the Redis Lua script and the in-memory twin must
apply identical transitions. Time is passed in, so every case is exact and instant."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from services.observability.prom import BREAKER_STATE
from services.resilience.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    Admission,
    BreakerConfig,
    BreakerStore,
    CircuitBreaker,
)
from services.resilience.breaker_memory import MemoryBreakerStore
from services.resilience.breaker_redis import RedisBreakerStore
from services.resilience.errors import CircuitOpen
from tests.conftest import require_env

CFG = BreakerConfig(failures=3, window_s=10.0, cooldown_s=5.0, successes=2, half_open_calls=1)
T0 = 1_700_000_000.0


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[BreakerStore]:
    if request.param == "memory":
        yield MemoryBreakerStore()
        return
    client = Redis.from_url(require_env("REDIS_URI"))
    prefix = f"t{unique}:breaker:"
    try:
        yield RedisBreakerStore(client, prefix=prefix)
    finally:
        # Named, not SCANned: the shared Redis holds other tests' keys (SCAN costs seconds).
        await client.delete(*(prefix + k for k in ("p:m", "p:a", "p:b", "prov:model-x")))
        await client.aclose()


async def _fail(store: BreakerStore, n: int, now: float, key: str = "p:m") -> str:
    state = CLOSED
    for _ in range(n):
        admitted = await store.acquire(key, now, CFG)
        state = await store.record(key, False, admitted.probe, now, CFG)
    return state


async def test_closed_until_the_threshold(store: BreakerStore) -> None:
    assert (await store.acquire("p:m", T0, CFG)).allowed
    assert await _fail(store, 2, T0) == CLOSED
    assert await _fail(store, 1, T0 + 1) == OPEN
    refused = await store.acquire("p:m", T0 + 2, CFG)
    assert not refused.allowed and refused.state == OPEN
    assert refused.retry_after_s == pytest.approx(4.0)  # opened at T0+1, cool-down 5 s


async def test_failures_outside_the_window_do_not_add_up(store: BreakerStore) -> None:
    assert await _fail(store, 2, T0) == CLOSED
    assert await _fail(store, 2, T0 + 11) == CLOSED  # the window restarted
    assert await _fail(store, 1, T0 + 12) == OPEN


async def test_circuits_are_per_key(store: BreakerStore) -> None:
    await _fail(store, 3, T0, key="p:a")
    assert (await store.acquire("p:b", T0, CFG)).allowed
    assert not (await store.acquire("p:a", T0, CFG)).allowed


async def test_half_open_after_cool_down_admits_limited_probes(store: BreakerStore) -> None:
    await _fail(store, 3, T0)
    assert await store.state("p:m", T0 + 4.9, CFG) == OPEN
    assert await store.state("p:m", T0 + 5, CFG) == HALF_OPEN
    probe = await store.acquire("p:m", T0 + 5, CFG)
    assert probe.allowed and probe.probe and probe.state == HALF_OPEN
    assert not (await store.acquire("p:m", T0 + 5.1, CFG)).allowed  # one probe at a time


async def test_successful_probes_close_the_circuit(store: BreakerStore) -> None:
    await _fail(store, 3, T0)
    for i in range(CFG.successes):
        probe = await store.acquire("p:m", T0 + 6 + i, CFG)
        assert probe.allowed
        state = await store.record("p:m", True, probe.probe, T0 + 6 + i, CFG)
    assert state == CLOSED
    assert (await store.acquire("p:m", T0 + 9, CFG)).allowed
    # Failures count from zero again after closing.
    assert await _fail(store, 2, T0 + 9) == CLOSED


async def test_failed_probe_opens_again(store: BreakerStore) -> None:
    await _fail(store, 3, T0)
    probe = await store.acquire("p:m", T0 + 6, CFG)
    assert await store.record("p:m", False, probe.probe, T0 + 6, CFG) == OPEN
    assert not (await store.acquire("p:m", T0 + 10, CFG)).allowed  # a new full cool-down
    assert (await store.acquire("p:m", T0 + 11, CFG)).allowed


async def test_a_lost_probe_frees_its_slot_after_a_cool_down(store: BreakerStore) -> None:
    await _fail(store, 3, T0)
    assert (await store.acquire("p:m", T0 + 5, CFG)).allowed  # never reports back
    assert not (await store.acquire("p:m", T0 + 9, CFG)).allowed
    assert (await store.acquire("p:m", T0 + 10, CFG)).allowed


async def test_breaker_fails_fast_and_exports_its_state(store: BreakerStore) -> None:
    clock = [T0]
    breaker = CircuitBreaker(store, CFG, clock=lambda: clock[0])
    for _ in range(3):
        await breaker.record(await breaker.acquire("prov", "model-x"), ok=False)
    assert BREAKER_STATE.labels("prov", "other")._value.get() == 2
    with pytest.raises(CircuitOpen) as caught:
        await breaker.acquire("prov", "model-x")
    assert caught.value.retryable and caught.value.code == "circuit_open"
    clock[0] = T0 + 5
    ticket = await breaker.acquire("prov", "model-x")
    assert BREAKER_STATE.labels("prov", "other")._value.get() == 1
    await breaker.record(ticket, ok=True)
    await breaker.record(await breaker.acquire("prov", "model-x"), ok=True)
    assert await breaker.state("prov", "model-x") == CLOSED
    assert BREAKER_STATE.labels("prov", "other")._value.get() == 0


class CountingStore(MemoryBreakerStore):
    def __init__(self) -> None:
        super().__init__()
        self.acquires = 0

    async def acquire(self, key: str, now: float, config: BreakerConfig) -> Admission:
        self.acquires += 1
        return await super().acquire(key, now, config)


async def test_a_closed_answer_is_trusted_locally_until_a_failure() -> None:
    store = CountingStore()
    breaker = CircuitBreaker(store, CFG, local_ttl_s=60)
    for _ in range(5):
        await breaker.record(await breaker.acquire("p", "m"), ok=True)
    assert store.acquires == 1  # one look at the store, no reports of success
    ticket = await breaker.acquire("p", "m")
    await breaker.record(ticket, ok=False)
    await breaker.acquire("p", "m")
    assert store.acquires == 2  # the failure made it ask again
