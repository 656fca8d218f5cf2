"""A caller no policy applies to is admitted, held and settled without touching the shared
counters (on Redis each call would be a round trip), while a caller with a policy still is."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.limits.checks import Caller
from services.limits.concurrency import Held
from services.limits.errors import Overloaded
from services.limits.estimate import Estimate
from services.limits.memory_store import MemoryLimitCounters, MemoryPolicyStore
from services.limits.model import LimitPolicy
from services.limits.service import Governor, GovernorConfig

PAYLOAD = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


class CountingCounters(MemoryLimitCounters):
    """The embedded counters, recording which of their methods were called."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        found = super().__getattribute__(name)
        if callable(found) and not name.startswith("_") and name != "calls":
            self.calls.append(name)
        return found


async def test_an_unlimited_caller_never_reaches_the_counters() -> None:
    counters = CountingCounters()
    governor = Governor(counters, MemoryPolicyStore(), GovernorConfig())
    admitted = await governor.admit(Caller("org", "k1"), PAYLOAD)
    async with governor.occupy(admitted, Held.INLINE):
        assert governor.gate.open(Held.INLINE) == 1
    await governor.settle(admitted.reservation, Estimate(100, 5))
    assert counters.calls == []
    assert admitted.headers == {} and governor.job_meta(admitted) == {}
    assert governor.gate.open(Held.INLINE) == 0


async def test_a_limited_caller_is_counted_and_settled() -> None:
    counters = CountingCounters()
    policies = MemoryPolicyStore()
    await policies.put("org", "key", "k1", LimitPolicy(tokens_per_minute=1000, concurrency=2))
    governor = Governor(counters, policies, GovernorConfig())
    admitted = await governor.admit(Caller("org", "k1"), PAYLOAD)
    async with governor.occupy(admitted, Held.INLINE):
        pass
    await governor.settle(admitted.reservation, Estimate(100, 5))
    assert counters.calls == ["admit", "acquire_slot", "release_slot", "settle"]
    assert "RateLimit" in admitted.headers


async def test_the_process_gate_is_released_when_the_call_fails() -> None:
    governor = Governor(MemoryLimitCounters(), MemoryPolicyStore(), GovernorConfig(process_max_inline=1))
    admitted = await governor.admit(Caller("org", "k1"), PAYLOAD)
    with pytest.raises(RuntimeError):
        async with governor.occupy(admitted, Held.INLINE):
            with pytest.raises(Overloaded):
                async with governor.occupy(admitted, Held.INLINE):
                    pass
            raise RuntimeError("the provider call failed")
    assert governor.gate.open(Held.INLINE) == 0


class CountingPolicies(MemoryPolicyStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_many(self, org_id: str, subjects: list[tuple[str, str]]) -> list[LimitPolicy | None]:
        self.reads += 1
        await asyncio.sleep(0.01)  # a store round trip, so the requests overlap
        return await super().get_many(org_id, subjects)


async def test_concurrent_requests_read_a_lapsed_policy_once() -> None:
    policies = CountingPolicies()
    await policies.put("org", "key", "k1", LimitPolicy(requests_per_minute=1000))
    governor = Governor(MemoryLimitCounters(), policies, GovernorConfig(policy_cache_s=0.05))
    for _ in range(2):  # a cold cache, then a lapsed one
        admitted = await asyncio.gather(*(governor.admit(Caller("org", "k1"), PAYLOAD) for _ in range(20)))
        assert all("RateLimit" in a.headers for a in admitted)
        await asyncio.sleep(0.06)
    assert policies.reads == 2
