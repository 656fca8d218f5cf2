"""Limit policies per org and per platform key: requests and tokens per minute, calls in
flight, USD budgets per day and month (services/limits). Bridges carry their own in the
bridge's `limits` field.

    PUT /api/v1/limits/org            the caller's org
    PUT /api/v1/limits/keys/{key_id}  one of the org's keys (another org's key: 404)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response

from api.routes.audit import AuditDep
from api.routes.governor import GovernorDep
from services.errors import NotFound
from services.limits.model import LimitPolicy

router = APIRouter(prefix="/api/v1/limits", tags=["governance"])
KeyId = Annotated[str, Path(max_length=64)]


async def _key_subject(request: Request, subject: Literal["keys"], subject_id: KeyId, audit: AuditDep) -> str:
    keys = await request.app.state.governance.list_keys(audit.org_id)
    if not any(k.id == subject_id for k in keys):
        raise NotFound(f"API key {subject_id!r} not found", code="api_key_not_found")
    return subject_id


async def _org_subject(subject: Literal["org"], audit: AuditDep) -> str:
    return audit.org_id


async def _show(governor: GovernorDep, org_id: str, kind: str, sid: str) -> dict[str, Any]:
    [policy] = await governor.policies.get_many(org_id, [(kind, sid)])
    budgets = await governor.budget_usage(org_id, kind, sid, policy) if policy else []
    return {"subject": kind, "id": sid,
            "policy": policy.model_dump(exclude_none=True) if policy else None, "budgets": budgets}


async def _put(governor: GovernorDep, audit: AuditDep, kind: str, sid: str, body: LimitPolicy) -> dict[str, Any]:
    [before] = await governor.policies.get_many(audit.org_id, [(kind, sid)])
    await governor.policies.put(audit.org_id, kind, sid, body)
    governor.forget(audit.org_id, kind, sid)
    await audit("limits.updated", "limits", f"{kind}:{sid}",
                before=before.model_dump(exclude_none=True) if before else None,
                after=body.model_dump(exclude_none=True))
    return await _show(governor, audit.org_id, kind, sid)


async def _delete(governor: GovernorDep, audit: AuditDep, kind: str, sid: str) -> Response:
    [before] = await governor.policies.get_many(audit.org_id, [(kind, sid)])
    if before is None:
        raise NotFound(f"no limits set for {kind} {sid!r}", code="limits_not_found")
    await governor.policies.delete(audit.org_id, kind, sid)
    governor.forget(audit.org_id, kind, sid)
    await audit("limits.deleted", "limits", f"{kind}:{sid}", before=before.model_dump(exclude_none=True))
    return Response(status_code=204)


OrgSubject = Annotated[str, Depends(_org_subject)]
KeySubject = Annotated[str, Depends(_key_subject)]


@router.get("/{subject}")
async def get_org_limits(org_id: OrgSubject, governor: GovernorDep) -> dict[str, Any]:
    return await _show(governor, org_id, "org", org_id)


@router.put("/{subject}")
async def put_org_limits(body: LimitPolicy, org_id: OrgSubject, governor: GovernorDep,
                         audit: AuditDep) -> dict[str, Any]:
    return await _put(governor, audit, "org", org_id, body)


@router.delete("/{subject}", status_code=204)
async def delete_org_limits(org_id: OrgSubject, governor: GovernorDep, audit: AuditDep) -> Response:
    return await _delete(governor, audit, "org", org_id)


@router.get("/{subject}/{subject_id}")
async def get_key_limits(key_id: KeySubject, governor: GovernorDep, audit: AuditDep) -> dict[str, Any]:
    return await _show(governor, audit.org_id, "key", key_id)


@router.put("/{subject}/{subject_id}")
async def put_key_limits(body: LimitPolicy, key_id: KeySubject, governor: GovernorDep,
                         audit: AuditDep) -> dict[str, Any]:
    return await _put(governor, audit, "key", key_id, body)


@router.delete("/{subject}/{subject_id}", status_code=204)
async def delete_key_limits(key_id: KeySubject, governor: GovernorDep, audit: AuditDep) -> Response:
    return await _delete(governor, audit, "key", key_id)
