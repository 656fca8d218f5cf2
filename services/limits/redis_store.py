"""Redis limits adapters: every check of a request in one Lua call (one round trip).

Keys (under the settings' prefix): `rl:<bucket>` a GCRA tat, `bg:<budget>` a hash of
micro-USD {spent, reserved}, `cs:<caller>` a zset of slot leases, `rv:<job>` one half of a
queued job's settlement, `lp:<org>:<kind>:<id>` a policy. All keys of a call are read by one script,
so on Redis Cluster they would need one hash tag; a single primary is assumed here.
"""

from __future__ import annotations

from redis.asyncio import Redis

from services.limits.model import (
    Admission,
    BudgetCheck,
    Crossing,
    LimitPolicy,
    RateCheck,
    RateState,
)
from services.limits.redis_lua import ACQUIRE_SLOT, ADMIT, MEET, SETTLE


class RedisLimitCounters:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._admit = redis.register_script(ADMIT)
        self._settle = redis.register_script(SETTLE)
        self._acquire = redis.register_script(ACQUIRE_SLOT)
        self._meet = redis.register_script(MEET)

    async def admit(self, rates: list[RateCheck], budgets: list[BudgetCheck]) -> Admission:
        if not rates and not budgets:
            # Nothing limits this caller: no round trip (it was ~20% of a submit's CPU).
            return Admission(True, rates=[])
        keys = [self._prefix + "rl:" + c.key for c in rates] + [self._prefix + "bg:" + b.key for b in budgets]
        args: list[str | int | float] = [len(rates)]
        for c in rates:
            args += [c.limit, c.window_s, c.cost]
        for b in budgets:
            args += [b.cap, b.estimate, b.ttl_s]
        out = await self._admit(keys=keys, args=args)
        if int(out[0]) == 0:
            index = int(out[1]) - 1
            if index < len(rates):
                return Admission(False, refused_by=rates[index].name, retry_after_s=float(out[2]))
            return Admission(False, refused_by=budgets[index - len(rates)].name, budget_refused=True)
        states = [RateState(c, int(out[3 + 2 * i]), float(out[4 + 2 * i])) for i, c in enumerate(rates)]
        return Admission(True, rates=states)

    async def settle(
        self, rates: list[tuple[RateCheck, int]], budgets: list[tuple[BudgetCheck, int]],
    ) -> list[Crossing]:
        if not rates and not budgets:
            return []
        keys = [self._prefix + "rl:" + c.key for c, _ in rates] + [self._prefix + "bg:" + b.key for b, _ in budgets]
        args: list[str | int | float] = [len(rates)]
        for c, delta in rates:
            args += [c.limit, c.window_s, delta]
        for b, actual in budgets:
            args += [b.cap, b.estimate, actual, b.ttl_s]
        out = [int(v) for v in await self._settle(keys=keys, args=args)]
        crossed: list[Crossing] = []
        for i in range(0, len(out), 3):
            budget = budgets[out[i] - 1][0]
            crossed.append(Crossing(budget.name, budget.key, percent=out[i + 2], spent=out[i + 1], cap=budget.cap))
        return crossed

    async def budget_state(self, key: str) -> tuple[int, int]:
        spent, reserved = await self._redis.hmget(self._prefix + "bg:" + key, ["spent", "reserved"])
        return int(spent or 0), int(reserved or 0)

    async def acquire_slot(self, key: str, limit: int, lease_id: str, lease_s: float) -> bool:
        return bool(await self._acquire(keys=[self._prefix + "cs:" + key], args=[limit, lease_id, lease_s]))

    async def release_slot(self, key: str, lease_id: str) -> None:
        await self._redis.zrem(self._prefix + "cs:" + key, lease_id)

    async def meet(self, job_id: str, value: bytes, ttl_s: int) -> bytes | None:
        other = await self._meet(keys=[self._prefix + "rv:" + job_id], args=[value, ttl_s])
        return bytes(other) if other else None

    async def peek(self, job_id: str) -> bytes | None:
        found = await self._redis.get(self._prefix + "rv:" + job_id)
        return bytes(found) if found else None


class RedisPolicyStore:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, org_id: str, kind: str, subject_id: str) -> str:
        return f"{self._prefix}lp:{org_id}:{kind}:{subject_id}"

    async def get_many(self, org_id: str, subjects: list[tuple[str, str]]) -> list[LimitPolicy | None]:
        if not subjects:
            return []
        raw = await self._redis.mget([self._key(org_id, k, s) for k, s in subjects])
        return [LimitPolicy.model_validate_json(v) if v else None for v in raw]

    async def put(self, org_id: str, kind: str, subject_id: str, policy: LimitPolicy) -> None:
        await self._redis.set(self._key(org_id, kind, subject_id), policy.model_dump_json(exclude_none=True))

    async def delete(self, org_id: str, kind: str, subject_id: str) -> bool:
        return bool(await self._redis.delete(self._key(org_id, kind, subject_id)))
