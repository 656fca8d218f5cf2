"""The Governor: admits a request against every rate limit and budget, settles it after.

    admitted = await governor.admit(caller, payload)   # 429 / 402 before any work
    ...run or queue the job...
    await governor.settle(admitted.reservation, actual(job.meta))

`admit` reserves the token and cost estimates in one atomic call; `settle` returns the
estimate and charges what was used, so concurrent submits overshoot a budget by at most
what is in flight. A queued job may finish (on any process) before its submitter has
stored the reservation, so the two halves meet under the job id (`hold` after submit,
`settle_job` from the job listener) and whichever comes second settles. Only jobs whose
meta carries RESERVED_META go through that, so unlimited orgs cost no Redis key per job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from services.errors import PlatformError
from services.jobs.model import Job
from services.limits.checks import Applied, Caller, SlotCheck, budget_checks, cap_of, rate_checks, slot_checks
from services.limits.concurrency import Held, ProcessGate, caller_slots
from services.limits.errors import BudgetExceeded, RateLimited
from services.limits.estimate import Estimate, actual, estimate
from services.limits.headers import allowed_headers, refused_headers
from services.limits.model import MICRO, BudgetCheck, LimitPolicy, RateCheck, SubjectKind
from services.limits.store import LimitCounters, PolicyStore

log = logging.getLogger(__name__)
# Set on a queued job's meta when a reservation must be settled when it finishes.
RESERVED_META = "limits_reserved"
_USAGE_PREFIX = b"u:"


class Reservation(BaseModel):
    org_id: str
    tokens: list[RateCheck] = []
    budgets: list[BudgetCheck] = []


class BudgetEvent(BaseModel):
    """`budget.threshold`: a budget reached 80% or 100% of its cap (once per period)."""

    org_id: str
    budget: str
    # Whose budget: org, key or bridge, and its id; `period` is day or month.
    scope: str
    scope_id: str
    period: str
    period_key: str
    percent: int
    spent_usd: float
    cap_usd: float


ThresholdListener = Callable[[BudgetEvent], Awaitable[None]]


@dataclass
class Admitted:
    reservation: Reservation
    headers: dict[str, str]
    slots: list[SlotCheck] = field(default_factory=list)


@dataclass(frozen=True)
class GovernorConfig:
    default_output_tokens: int = 512
    slot_lease_s: float = 600.0
    reservation_ttl_s: int = 7 * 86_400
    process_max_streams: int = 1000
    process_max_inline: int = 1000
    # Policies are read once per this long per process: it saves a Redis round trip per
    # request (~0.3-0.5 ms here, bench/RESULTS.md); other processes see a change this late.
    policy_cache_s: float = 1.0


class Governor:
    def __init__(self, counters: LimitCounters, policies: PolicyStore, config: GovernorConfig) -> None:
        self.counters = counters
        self.policies = policies
        self._config = config
        self._listeners: list[ThresholdListener] = []
        self._cached: dict[tuple[str, str, str], tuple[float, LimitPolicy | None]] = {}
        self._flights: dict[tuple[str, tuple[tuple[str, str], ...]],
                            asyncio.Future[dict[tuple[str, str], LimitPolicy | None]]] = {}
        self.gate = ProcessGate({Held.STREAM: config.process_max_streams, Held.INLINE: config.process_max_inline})

    def on_threshold(self, listener: ThresholdListener) -> None:
        """Call `listener` with every `budget.threshold` event this process observes."""
        self._listeners.append(listener)

    def forget(self, org_id: str, kind: str, subject_id: str) -> None:
        """Drop a cached policy (this process changed it)."""
        self._cached.pop((org_id, kind, subject_id), None)

    async def _lookup(self, org_id: str, subjects: list[tuple[str, str]]) -> list[LimitPolicy | None]:
        now = time.monotonic()
        found: dict[tuple[str, str], LimitPolicy | None] = {}
        stale = []
        for subject in subjects:
            expires, policy = self._cached.get((org_id, *subject), (0.0, None))
            if expires > now:
                found[subject] = policy
            else:
                stale.append(subject)
        if stale:
            # One read per expiry, not one per request in flight: when the cache lapsed,
            # every concurrent request of a caller asked the store at once (8.5% of a
            # submit profile was Gate.admit in those moments).
            flight = (org_id, tuple(stale))
            pending = self._flights.get(flight)
            if pending is None:
                pending = self._flights[flight] = asyncio.ensure_future(self._load(org_id, stale, now))
                pending.add_done_callback(lambda _: self._flights.pop(flight, None))
            found.update(await asyncio.shield(pending))
        return [found[s] for s in subjects]

    async def _load(self, org_id: str, stale: list[tuple[str, str]],
                    now: float) -> dict[tuple[str, str], LimitPolicy | None]:
        loaded = dict(zip(stale, await self.policies.get_many(org_id, stale), strict=True))
        if len(self._cached) > 100_000:
            self._cached.clear()
        for subject, policy in loaded.items():
            self._cached[(org_id, *subject)] = (now + self._config.policy_cache_s, policy)
        return loaded

    async def _applied(self, caller: Caller, bridge_policy: LimitPolicy | None) -> list[Applied]:
        subjects = caller.subjects()
        found = await self._lookup(caller.org_id, subjects)
        applied = [(kind, sid, p) for (kind, sid), p in zip(subjects, found, strict=True) if p is not None]
        if bridge_policy is not None and caller.bridge_id:
            applied = [a for a in applied if a[0] != "bridge"] + [("bridge", caller.bridge_id, bridge_policy)]
        return applied

    async def admit(self, caller: Caller, payload: dict[str, Any], *,
                    bridge_policy: LimitPolicy | None = None) -> Admitted:
        """Take the request from every limit that applies, or raise 429 / 402 taking nothing."""
        applied = await self._applied(caller, bridge_policy)
        if not applied:
            # Nothing to count against: no estimate, no counter call, nothing to settle
            # (this was ~7% of a proxied call on the embedded counters, bench/RESULTS.md).
            return Admitted(Reservation(org_id=caller.org_id), {})
        guess = estimate(payload, default_output_tokens=self._config.default_output_tokens)
        rates = rate_checks(caller, applied, guess.tokens)
        budgets = budget_checks(caller, applied, guess.cost_micros)
        admission = await self.counters.admit(rates, budgets)
        if admission.budget_refused:
            raise BudgetExceeded(f"the {admission.refused_by} budget cannot fit this request's estimated "
                                 f"cost of ${guess.cost_micros / MICRO:.6f}", budget=admission.refused_by)
        if not admission.allowed:
            assert admission.refused_by is not None
            raise RateLimited(f"rate limit {admission.refused_by} reached", retry_after_s=admission.retry_after_s,
                              headers=refused_headers(rates, admission.refused_by, admission.retry_after_s),
                              limit=admission.refused_by)
        reservation = Reservation(org_id=caller.org_id, budgets=budgets,
                                  tokens=[c for c in rates if c.unit == "tokens"])
        return Admitted(reservation, allowed_headers(admission.rates), slot_checks(caller, applied))

    async def settle(self, reservation: Reservation, used: Estimate) -> None:
        """Return the estimates and charge what was used; tell listeners of crossed thresholds."""
        if not reservation.tokens and not reservation.budgets:
            return
        crossed = await self.counters.settle([(c, used.tokens - c.cost) for c in reservation.tokens],
                                             [(b, used.cost_micros) for b in reservation.budgets])
        checks = {b.key: b for b in reservation.budgets}
        for c in crossed:
            check = checks[c.key]
            event = BudgetEvent(org_id=reservation.org_id, budget=c.name, scope=check.subject,
                                scope_id=check.subject_id, period=check.period, period_key=c.key,
                                percent=c.percent, spent_usd=c.spent / MICRO, cap_usd=c.cap / MICRO)
            log.info("budget threshold", extra={"org_id": event.org_id, "budget": c.name, "percent": c.percent})
            for listener in self._listeners:
                try:
                    await listener(event)
                except Exception:
                    log.exception("budget threshold listener failed", extra={"budget": c.name})

    async def release(self, admitted: Admitted) -> None:
        """The request did not run (refused later, replayed): give its estimates back."""
        await self.settle(admitted.reservation, Estimate(0, 0))

    @staticmethod
    def job_meta(admitted: Admitted) -> dict[str, Any]:
        """Meta to record on a queued job so its finisher settles it."""
        return {RESERVED_META: True} if admitted.reservation.tokens or admitted.reservation.budgets else {}

    async def hold(self, admitted: Admitted, job_id: str) -> None:
        """Leave a queued job's reservation for its finisher (or settle now if it finished)."""
        if not self.job_meta(admitted):
            return
        other = await self.counters.meet(job_id, admitted.reservation.model_dump_json().encode(),
                                         self._config.reservation_ttl_s)
        if other is not None:
            tokens, _, cost = other.removeprefix(_USAGE_PREFIX).partition(b":")
            await self.settle(admitted.reservation, Estimate(int(tokens), int(cost)))

    async def settle_job(self, job_id: str, meta: dict[str, Any]) -> None:
        """Settle a finished queued job's reservation with what it used (exactly once)."""
        if not meta.get(RESERVED_META):
            return
        used = actual(meta)
        other = await self.counters.meet(job_id, _USAGE_PREFIX + f"{used.tokens}:{used.cost_micros}".encode(),
                                         self._config.reservation_ttl_s)
        if other is not None:
            await self.settle(Reservation.model_validate_json(other), used)

    async def refusal(self, job: Job) -> PlatformError | None:
        """StartCheck (services/jobs/guard.py): a queued job whose budgets can no longer fit
        its estimate must not start. Its own reservation is not counted against it, nor are
        other queued jobs' (the first to start goes first); caps are re-read, so a lowered
        budget refuses too. A job whose submitter has not stored its reservation yet (it is
        racing the worker, a few ms) is let through: it was admitted moments ago."""
        if not job.meta.get(RESERVED_META):
            return None
        held = await self.counters.peek(job.id)
        if held is None or held.startswith(_USAGE_PREFIX):
            return None
        reservation = Reservation.model_validate_json(held)
        for budget in reservation.budgets:
            cap: int | None = budget.cap
            if budget.period and budget.subject in (SubjectKind.ORG, SubjectKind.KEY):
                [policy] = await self._lookup(reservation.org_id, [(budget.subject, budget.subject_id)])
                cap = cap_of(policy, budget.period)
            if cap is None:
                continue  # that budget was removed since
            spent, _ = await self.counters.budget_state(budget.key)
            if spent + budget.estimate > cap:
                return BudgetExceeded(f"the {budget.name} budget can no longer fit this job's estimated cost of "
                                      f"${budget.estimate / MICRO:.6f}", budget=budget.name)
        return None

    async def budget_usage(self, org_id: str, kind: str, subject_id: str, policy: LimitPolicy) -> list[dict[str, Any]]:
        """This period's spend of each budget `policy` sets for one subject."""
        out = []
        for check in budget_checks(Caller(org_id), [(kind, subject_id, policy)], 0):
            spent, reserved = await self.counters.budget_state(check.key)
            out.append({"budget": check.name, "cap_usd": check.cap / MICRO, "spent_usd": spent / MICRO,
                        "reserved_usd": reserved / MICRO})
        return out

    def occupy(self, admitted: Admitted, kind: Held) -> AbstractAsyncContextManager[None]:
        """Hold a process slot (503 when full) and the caller's slots (429) while open."""
        if not admitted.slots:
            return self.gate.enter(kind)
        return self._occupied(admitted, kind)

    @asynccontextmanager
    async def _occupied(self, admitted: Admitted, kind: Held) -> AsyncIterator[None]:
        async with self.gate.enter(kind), caller_slots(self.counters, admitted.slots, self._config.slot_lease_s):
            yield
