"""One contract for every LimitCounters adapter (dicts and Redis + Lua)."""

from __future__ import annotations

from typing import Any

from services.limits.model import BudgetCheck, LimitPolicy, RateCheck


def rate(key: str, limit: int, cost: int = 1, window_s: float = 60.0) -> RateCheck:
    return RateCheck(key=key, name=key, limit=limit, window_s=window_s, cost=cost)


def budget(key: str, cap: int, estimate: int) -> BudgetCheck:
    return BudgetCheck(key=key, name=key, cap=cap, estimate=estimate, ttl_s=3600)


async def test_a_burst_of_the_limit_passes_then_the_next_is_refused(counters: Any) -> None:
    answers = [await counters.admit([rate("a", 5)], []) for _ in range(6)]
    assert [a.allowed for a in answers] == [True] * 5 + [False]
    assert [a.rates[0].remaining for a in answers[:5]] == [4, 3, 2, 1, 0]
    # One unit comes back every 60/5 = 12 s.
    assert 0 < answers[5].retry_after_s <= 12.0
    assert answers[5].refused_by == "a"


async def test_all_or_nothing_when_one_of_several_limits_refuses(counters: Any) -> None:
    assert (await counters.admit([rate("full", 1)], [])).allowed
    refused = await counters.admit([rate("free", 10), rate("full", 1)], [budget("b", 100, 10)])
    assert not refused.allowed and refused.refused_by == "full"
    # Neither the free bucket nor the budget moved.
    free = await counters.admit([rate("free", 10)], [])
    assert free.rates[0].remaining == 9
    assert await counters.budget_state("b") == (0, 0)


async def test_token_cost_and_settle_returns_the_unused_estimate(counters: Any) -> None:
    check = rate("tok", 1000, cost=800)
    assert (await counters.admit([check], [])).allowed
    assert not (await counters.admit([rate("tok", 1000, cost=300)], [])).allowed
    await counters.settle([(check, 100 - 800)], [])  # the run used 100 tokens, not 800
    after = await counters.admit([rate("tok", 1000, cost=300)], [])
    assert after.allowed and 590 <= after.rates[0].remaining <= 600


async def test_a_cost_above_the_limit_never_passes(counters: Any) -> None:
    refused = await counters.admit([rate("big", 10, cost=11)], [])
    assert not refused.allowed and refused.retry_after_s == 60.0


async def test_budget_reserves_then_refuses_at_the_cap_and_settles_actual(counters: Any) -> None:
    cap = budget("day", cap=100, estimate=30)
    assert [(await counters.admit([], [cap])).allowed for _ in range(4)] == [True, True, True, False]
    refused = await counters.admit([], [cap])
    assert refused.budget_refused and refused.refused_by == "day"
    assert await counters.budget_state("day") == (0, 90)
    crossed = await counters.settle([], [(cap, 85)])
    assert [c.percent for c in crossed] == [80]
    assert await counters.budget_state("day") == (85, 60)
    crossed = await counters.settle([], [(cap, 20)])
    assert [c.percent for c in crossed] == [100]
    # Past 100% nothing is crossed again.
    assert await counters.settle([], [(cap, 1)]) == []


async def test_each_threshold_is_announced_once_per_period(counters: Any) -> None:
    # An unpriced model reserves 0: settling it must work (Redis refuses HINCRBY by "-0").
    free = budget("period-a", cap=100, estimate=0)
    assert await counters.settle([], [(free, 0)]) == []
    # 20 settlements at once reach 80% and 100%: each is reported by exactly one of them.
    import asyncio

    results = await asyncio.gather(*[counters.settle([], [(free, 6)]) for _ in range(20)])
    assert sorted(c.percent for crossed in results for c in crossed) == [80, 100]
    # The marker belongs to the period: the next period's budget announces afresh.
    crossed = await counters.settle([], [(budget("period-b", cap=100, estimate=0), 90)])
    assert [c.percent for c in crossed] == [80]


async def test_peek_shows_the_held_half_without_taking_it(counters: Any) -> None:
    assert await counters.peek("job_3") is None
    await counters.meet("job_3", b"reservation", 60)
    assert await counters.peek("job_3") == b"reservation"
    assert await counters.meet("job_3", b"usage", 60) == b"reservation"
    assert await counters.peek("job_3") is None


async def test_slots_are_limited_released_and_expire(counters: Any) -> None:
    assert await counters.acquire_slot("caller", 2, "l1", 60)
    assert await counters.acquire_slot("caller", 2, "l2", 0.2)
    assert not await counters.acquire_slot("caller", 2, "l3", 60)
    await counters.release_slot("caller", "l1")
    assert await counters.acquire_slot("caller", 2, "l3", 60)
    import asyncio

    await asyncio.sleep(0.3)  # l2's lease (a crashed holder) has run out
    assert await counters.acquire_slot("caller", 2, "l4", 60)


async def test_the_two_halves_of_a_settlement_meet_in_either_order(counters: Any) -> None:
    assert await counters.meet("job_1", b"reservation", 60) is None
    assert await counters.meet("job_1", b"usage", 60) == b"reservation"
    assert await counters.meet("job_2", b"usage", 60) is None  # the job finished first
    assert await counters.meet("job_2", b"reservation", 60) == b"usage"


async def test_policies_put_get_delete(policies: Any) -> None:
    policy = LimitPolicy(requests_per_minute=10, daily_budget_usd=5.0)
    await policies.put("org", "key", "k1", policy)
    assert await policies.get_many("org", [("key", "k1"), ("org", "org")]) == [policy, None]
    assert await policies.get_many("other", [("key", "k1")]) == [None]
    assert await policies.delete("org", "key", "k1")
    assert not await policies.delete("org", "key", "k1")
