"""Dependencies that put the Governor in front of a run: rate limits and budgets (`Gate`).

    gate: GateDep
    admitted = await gate.admit(payload, bridge_id=..., thread=..., bridge_policy=...)
    ... run ...
    return gate.answer(response)        # adds the RateLimit headers

The job lifecycle rewrite moves these calls inside submit; the routes then drop them.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.responses import Response

from api.scopes import principal_of
from services.errors import Unauthorized
from services.limits.checks import Caller
from services.limits.estimate import actual
from services.limits.model import LimitPolicy
from services.limits.service import Admitted, Governor

R = TypeVar("R", bound=Response)


def governor_of(request: Request) -> Governor:
    found: Governor = request.app.state.governor
    return found


GovernorDep = Annotated[Governor, Depends(governor_of)]


class Gate:
    """One request's admission: who asks, what was reserved, the headers to send."""

    def __init__(self, governor: Governor, org_id: str, key_id: str | None) -> None:
        self.governor = governor
        self.org_id = org_id
        self.key_id = key_id
        self.admitted: Admitted | None = None

    async def admit(self, payload: dict[str, Any], *, bridge_id: str | None = None, thread: str | None = None,
                    bridge_policy: LimitPolicy | None = None) -> Admitted:
        user = payload.get("user")
        caller = Caller(self.org_id, self.key_id, bridge_id, str(user) if user else None, thread)
        self.admitted = await self.governor.admit(caller, payload, bridge_policy=bridge_policy)
        return self.admitted

    def job_meta(self) -> dict[str, Any]:
        return self.governor.job_meta(self.admitted) if self.admitted else {}

    async def queued(self, job_id: str, created: bool) -> None:
        """The job was queued (its finisher settles it) or replayed (nothing will run)."""
        if self.admitted is None:
            return
        if created:
            await self.governor.hold(self.admitted, job_id)
        else:
            await self.governor.release(self.admitted)

    async def settle(self, meta: dict[str, Any] | None) -> None:
        """An inline run ended: charge what it used (nothing if it never answered)."""
        admitted = self.admitted
        if admitted is None or not (admitted.reservation.tokens or admitted.reservation.budgets):
            return  # nothing was reserved, so nothing is charged
        await self.governor.settle(admitted.reservation, actual(meta or {}))
        self.admitted = Admitted(admitted.reservation.model_copy(update={"tokens": [], "budgets": []}),
                                 admitted.headers, admitted.slots)

    def answer(self, response: R) -> R:
        if self.admitted is not None:
            response.headers.update(self.admitted.headers)
        return response


async def get_gate(request: Request) -> Gate:
    principal = principal_of(request)
    if principal is None:
        raise Unauthorized("missing Authorization header (expected 'Bearer <api key>')")
    return Gate(governor_of(request), principal.org_id, principal.key_id)


GateDep = Annotated[Gate, Depends(get_gate)]
