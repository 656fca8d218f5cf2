"""Embedded limits adapters (dicts) for `python index.py` and unit tests.

Atomic because no method awaits between reading and writing: one event loop, one process.
"""

from __future__ import annotations

import time

from services.limits import gcra
from services.limits.model import (
    Admission,
    BudgetCheck,
    Crossing,
    LimitPolicy,
    RateCheck,
    RateState,
    reached,
)


class MemoryLimitCounters:
    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._spent: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        self._slots: dict[str, dict[str, float]] = {}
        self._held: dict[str, tuple[float, bytes]] = {}
        # (budget period key, percent) already announced.
        self._announced: set[tuple[str, int]] = set()

    async def admit(self, rates: list[RateCheck], budgets: list[BudgetCheck]) -> Admission:
        now = time.time()
        taken: list[tuple[RateCheck, float]] = []
        for check in rates:
            ok, tat, wait = gcra.take(self._tat.get(check.key), now, check.limit, check.window_s, check.cost)
            if not ok:
                return Admission(False, refused_by=check.name, retry_after_s=wait)
            taken.append((check, tat))
        for budget in budgets:
            used = self._spent.get(budget.key, 0) + self._reserved.get(budget.key, 0)
            if used + budget.estimate > budget.cap:
                return Admission(False, refused_by=budget.name, budget_refused=True)
        states = []
        for check, tat in taken:
            self._tat[check.key] = tat
            states.append(RateState(check, gcra.remaining(tat, now, check.limit, check.window_s), tat - now))
        for budget in budgets:
            self._reserved[budget.key] = self._reserved.get(budget.key, 0) + budget.estimate
        return Admission(True, rates=states)

    async def settle(
        self, rates: list[tuple[RateCheck, int]], budgets: list[tuple[BudgetCheck, int]],
    ) -> list[Crossing]:
        now = time.time()
        for check, delta in rates:
            self._tat[check.key] = gcra.adjust(self._tat.get(check.key), now, check.limit, check.window_s, delta)
        crossed: list[Crossing] = []
        for budget, actual in budgets:
            self._reserved[budget.key] = max(0, self._reserved.get(budget.key, 0) - budget.estimate)
            after = self._spent.get(budget.key, 0) + actual
            self._spent[budget.key] = after
            for percent in reached(after, budget.cap):
                if (budget.key, percent) not in self._announced:
                    self._announced.add((budget.key, percent))
                    crossed.append(Crossing(budget.name, budget.key, percent=percent, spent=after, cap=budget.cap))
        return crossed

    async def budget_state(self, key: str) -> tuple[int, int]:
        return self._spent.get(key, 0), self._reserved.get(key, 0)

    async def acquire_slot(self, key: str, limit: int, lease_id: str, lease_s: float) -> bool:
        now = time.time()
        slots = {k: v for k, v in self._slots.get(key, {}).items() if v > now}
        if len(slots) >= limit:
            self._slots[key] = slots
            return False
        slots[lease_id] = now + lease_s
        self._slots[key] = slots
        return True

    async def release_slot(self, key: str, lease_id: str) -> None:
        self._slots.get(key, {}).pop(lease_id, None)

    async def peek(self, job_id: str) -> bytes | None:
        entry = self._held.get(job_id)
        return entry[1] if entry is not None and entry[0] > time.time() else None

    async def meet(self, job_id: str, value: bytes, ttl_s: int) -> bytes | None:
        entry = self._held.pop(job_id, None)
        if entry is not None and entry[0] > time.time():
            return entry[1]
        self._held[job_id] = (time.time() + ttl_s, value)
        return None


class MemoryPolicyStore:
    def __init__(self) -> None:
        self._policies: dict[tuple[str, str, str], LimitPolicy] = {}

    async def get_many(self, org_id: str, subjects: list[tuple[str, str]]) -> list[LimitPolicy | None]:
        return [self._policies.get((org_id, kind, sid)) for kind, sid in subjects]

    async def put(self, org_id: str, kind: str, subject_id: str, policy: LimitPolicy) -> None:
        self._policies[(org_id, kind, subject_id)] = policy

    async def delete(self, org_id: str, kind: str, subject_id: str) -> bool:
        return self._policies.pop((org_id, kind, subject_id), None) is not None
