"""The limits ports: counters (rate, budget, slots) and the policies configured per subject."""

from __future__ import annotations

from typing import Protocol

from services.limits.model import Admission, BudgetCheck, Crossing, LimitPolicy, RateCheck


class LimitCounters(Protocol):
    """Counters shared by every process. Each call is atomic: in Redis one Lua script."""

    async def admit(self, rates: list[RateCheck], budgets: list[BudgetCheck]) -> Admission:
        """Take every rate check's cost and reserve every budget's estimate, or nothing.

        All-or-nothing: when any check refuses, no counter moves."""
        ...

    async def settle(
        self, rates: list[tuple[RateCheck, int]], budgets: list[tuple[BudgetCheck, int]],
    ) -> list[Crossing]:
        """Reconcile: each rate bucket moves by the given delta (actual - estimate, may be
        negative); each budget releases its estimate and adds the given actual micro-USD.
        Returns the 80% / 100% thresholds reached that no earlier call returned for the same
        budget period (each announced once, whatever the number of processes)."""
        ...

    async def budget_state(self, key: str) -> tuple[int, int]:
        """(spent, reserved) micro-USD of one budget period."""
        ...

    async def acquire_slot(self, key: str, limit: int, lease_id: str, lease_s: float) -> bool:
        """Hold one of `limit` slots until released or `lease_s` passes (a crashed
        process's slots free themselves)."""
        ...

    async def release_slot(self, key: str, lease_id: str) -> None: ...

    async def meet(self, job_id: str, value: bytes, ttl_s: int) -> bytes | None:
        """A rendezvous of two halves under one job id: the submitter's reservation and the
        finisher's usage, in either order. The first caller's value is kept (for `ttl_s`) and
        None returned; the second gets the first's value back and the entry is removed, so
        exactly one side settles, whichever finished its half last."""
        ...

    async def peek(self, job_id: str) -> bytes | None:
        """The half `meet` holds for `job_id`, left in place (None when there is none)."""
        ...


class PolicyStore(Protocol):
    """Limit policies per (org, subject kind, subject id)."""

    async def get_many(self, org_id: str, subjects: list[tuple[str, str]]) -> list[LimitPolicy | None]: ...

    async def put(self, org_id: str, kind: str, subject_id: str, policy: LimitPolicy) -> None: ...

    async def delete(self, org_id: str, kind: str, subject_id: str) -> bool: ...
