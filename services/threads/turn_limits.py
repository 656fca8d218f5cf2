"""Limits on chatbot turns per end user and per thread, through the shared Governor (exact
across processes on Redis). The defaults are the product's: 100 turns a minute per bridge
and end user, 20 per thread; a bridge's own `limits.per_user` / `per_thread` replace them.
A refused turn is a 429 with Retry-After, before any thread or turn number is touched."""

from __future__ import annotations

from services.auth.principal import Principal
from services.bridges.service import BridgeService
from services.limits.checks import Caller
from services.limits.estimate import Estimate
from services.limits.model import LimitPolicy, RatePolicy
from services.limits.service import Governor

DEFAULT_PER_USER = RatePolicy(requests_per_minute=100)
DEFAULT_PER_THREAD = RatePolicy(requests_per_minute=20)


class GovernedTurnLimiter:
    def __init__(self, governor: Governor, bridges: BridgeService) -> None:
        self._governor = governor
        self._bridges = bridges

    async def check(self, principal: Principal, bridge: str, thread_id: str | None) -> None:
        resolved = await self._bridges.resolve(principal.org_id, bridge)
        own = resolved.spec.limits or LimitPolicy()
        policy = own.model_copy(update={"per_user": own.per_user or DEFAULT_PER_USER,
                                        "per_thread": own.per_thread or DEFAULT_PER_THREAD})
        caller = Caller(principal.org_id, None, resolved.bridge_id, principal.end_user, thread_id)
        admitted = await self._governor.admit(caller, {"messages": []}, bridge_policy=policy)
        # Only the count matters here: the turn's tokens and cost are its job's to settle.
        await self._governor.settle(admitted.reservation, Estimate(tokens=0, cost_micros=0))
