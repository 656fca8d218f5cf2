"""Concurrency: a per-caller slot is shared by every process (Redis), the process gate is
this process's own, and a crashed holder's slot frees itself when its lease ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.limits.checks import Caller
from services.limits.concurrency import Held
from services.limits.errors import Overloaded, RateLimited
from services.limits.memory_store import MemoryPolicyStore
from services.limits.model import LimitPolicy
from services.limits.service import Governor, GovernorConfig

PAYLOAD = {"messages": [{"role": "user", "content": "hi"}]}


async def test_a_callers_slots_are_shared_between_processes(counters: Any) -> None:
    policies = MemoryPolicyStore()
    await policies.put("org", "key", "k1", LimitPolicy(concurrency=1))
    # Two processes: two Governors (own gates, own policy caches) over the same counters.
    one, two = (Governor(counters, policies, GovernorConfig(slot_lease_s=0.5)) for _ in range(2))
    first = await one.admit(Caller("org", "k1"), PAYLOAD)
    second = await two.admit(Caller("org", "k1"), PAYLOAD)
    async with one.occupy(first, Held.INLINE):
        with pytest.raises(RateLimited) as refused:
            async with two.occupy(second, Held.INLINE):
                pass
        assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "1"
        other_key = await two.admit(Caller("org", "k2"), PAYLOAD)
        async with two.occupy(other_key, Held.INLINE):
            pass
    async with two.occupy(second, Held.INLINE):  # released when the first call ended
        pass


async def test_a_crashed_holders_slot_expires(counters: Any) -> None:
    policies = MemoryPolicyStore()
    await policies.put("org", "key", "k1", LimitPolicy(concurrency=1))
    governor = Governor(counters, policies, GovernorConfig(slot_lease_s=0.3))
    admitted = await governor.admit(Caller("org", "k1"), PAYLOAD)
    [slot] = admitted.slots
    assert await counters.acquire_slot(slot.key, 1, "crashed-process", 0.3)  # never released
    with pytest.raises(RateLimited):
        async with governor.occupy(admitted, Held.STREAM):
            pass
    await asyncio.sleep(0.4)
    async with governor.occupy(admitted, Held.STREAM):
        pass


async def test_the_process_gate_answers_503_at_its_maximum(counters: Any) -> None:
    governor = Governor(counters, MemoryPolicyStore(), GovernorConfig(process_max_streams=1))
    admitted = await governor.admit(Caller("org", "k1"), PAYLOAD)
    async with governor.occupy(admitted, Held.STREAM):
        with pytest.raises(Overloaded) as full:
            async with governor.occupy(admitted, Held.STREAM):
                pass
        assert full.value.status == 503 and full.value.retry_after_s == 1.0
        async with governor.occupy(admitted, Held.INLINE):  # inline calls have their own cap
            pass
    assert governor.gate.open(Held.STREAM) == 0
