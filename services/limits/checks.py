"""Turns a caller and the policies that apply to it into the checks of one admission."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.limits.model import MICRO, BudgetCheck, LimitPolicy, RateCheck, RatePolicy, SubjectKind

MINUTE_S = 60.0
# A budget period's counter outlives the period a little, then Redis drops it.
DAY_TTL_S = 2 * 86_400
MONTH_TTL_S = 32 * 86_400
DAY, MONTH = "day", "month"


def cap_of(policy: LimitPolicy | None, period: str) -> int | None:
    """A policy's budget cap for `period` in micro-USD (None: that budget is not set)."""
    usd = None if policy is None else policy.daily_budget_usd if period == DAY else policy.monthly_budget_usd
    return None if usd is None else round(usd * MICRO)


@dataclass(frozen=True)
class Caller:
    """Who is asking: the key's org and id, and the bridge, end user and thread if any."""

    org_id: str
    key_id: str | None = None
    bridge_id: str | None = None
    user: str | None = None
    thread: str | None = None

    def subjects(self) -> list[tuple[str, str]]:
        """(kind, id) of every subject a policy may be configured for."""
        found = [(SubjectKind.ORG.value, self.org_id)]
        if self.key_id:
            found.append((SubjectKind.KEY.value, self.key_id))
        if self.bridge_id:
            found.append((SubjectKind.BRIDGE.value, self.bridge_id))
        return found


Applied = tuple[str, str, LimitPolicy]


@dataclass(frozen=True)
class SlotCheck:
    key: str
    name: str
    limit: int


def _scoped(caller: Caller, applied: list[Applied]) -> list[tuple[str, str, RatePolicy]]:
    """Each subject's own policy, then its per-user and per-thread ones when they apply."""
    out: list[tuple[str, str, RatePolicy]] = []
    for kind, sid, policy in applied:
        base = f"{caller.org_id}:{kind}:{sid}"
        out.append((base, kind, policy))
        if policy.per_user and caller.user:
            out.append((f"{base}:user:{caller.user}", f"{kind}-user", policy.per_user))
        if policy.per_thread and caller.thread:
            out.append((f"{base}:thread:{caller.thread}", f"{kind}-thread", policy.per_thread))
    return out


def rate_checks(caller: Caller, applied: list[Applied], tokens: int) -> list[RateCheck]:
    checks = []
    for base, label, policy in _scoped(caller, applied):
        if policy.requests_per_minute:
            checks.append(RateCheck(key=f"{base}:rpm", name=f"{label}-rpm",
                                    limit=policy.requests_per_minute, window_s=MINUTE_S, cost=1))
        if policy.tokens_per_minute:
            checks.append(RateCheck(key=f"{base}:tpm", name=f"{label}-tpm", limit=policy.tokens_per_minute,
                                    window_s=MINUTE_S, cost=tokens, unit="tokens"))
    return checks


def slot_checks(caller: Caller, applied: list[Applied]) -> list[SlotCheck]:
    return [SlotCheck(key=base, name=f"{label}-concurrency", limit=policy.concurrency)
            for base, label, policy in _scoped(caller, applied) if policy.concurrency]


def budget_checks(
    caller: Caller, applied: list[Applied], estimate: int, now: datetime | None = None,
) -> list[BudgetCheck]:
    now = now or datetime.now(UTC)
    checks = []
    for kind, sid, policy in applied:
        base = f"{caller.org_id}:{kind}:{sid}:usd"
        if policy.daily_budget_usd is not None:
            checks.append(BudgetCheck(key=f"{base}:d:{now:%Y%m%d}", name=f"{kind}-daily-usd",
                                      cap=round(policy.daily_budget_usd * MICRO), estimate=estimate,
                                      ttl_s=DAY_TTL_S, subject=kind, subject_id=sid, period=DAY))
        if policy.monthly_budget_usd is not None:
            checks.append(BudgetCheck(key=f"{base}:m:{now:%Y%m}", name=f"{kind}-monthly-usd",
                                      cap=round(policy.monthly_budget_usd * MICRO), estimate=estimate,
                                      ttl_s=MONTH_TTL_S, subject=kind, subject_id=sid, period=MONTH))
    return checks
