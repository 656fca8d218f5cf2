"""GET /api/v1/audit: the org's configuration changes, newest first. Read-only by design:
no route changes or deletes a record (and the PostgreSQL table refuses it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.scopes import principal_of
from services.audit.model import AuditQuery
from services.audit.service import AuditLog
from services.common.logging import request_id_var
from services.errors import Invalid, Unauthorized

router = APIRouter(prefix="/api/v1/audit", tags=["governance"])


class Auditor:
    """AuditLog.record bound to one request's org, actor key and request id."""

    def __init__(self, log: AuditLog, org_id: str, actor_key_id: str | None, request_id: str | None) -> None:
        self._log, self.org_id, self._actor, self._request_id = log, org_id, actor_key_id, request_id

    async def __call__(self, action: str, object_type: str, object_id: str, *,
                       before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
        await self._log.record(org_id=self.org_id, actor_key_id=self._actor, action=action,
                               object_type=object_type, object_id=object_id, before=before, after=after,
                               request_id=self._request_id)


def audit_log_of(request: Request) -> AuditLog:
    found: AuditLog = request.app.state.audit_log
    return found


async def get_auditor(request: Request) -> Auditor:
    principal = principal_of(request)
    if principal is None:
        raise Unauthorized("missing Authorization header (expected 'Bearer <api key>')")
    return Auditor(audit_log_of(request), principal.org_id, principal.key_id, request_id_var.get() or None)


AuditDep = Annotated[Auditor, Depends(get_auditor)]


@router.get("")
async def list_audit(
    request: Request, auditor: AuditDep,
    object: Annotated[str | None, Query(max_length=200, description="<type> or <type>:<id>")] = None,
    actor: Annotated[str | None, Query(max_length=64, description="actor key id")] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    object_type, _, object_id = (object or "").partition(":")
    if cursor is not None and not cursor.isdigit():
        raise Invalid("malformed cursor", field="cursor")
    page = await audit_log_of(request).query(AuditQuery(
        org_id=auditor.org_id, object_type=object_type or None, object_id=object_id or None,
        actor_key_id=actor, before_id=int(cursor) if cursor else None, limit=limit))
    return {"data": [r.model_dump(mode="json", exclude={"org_id"}) for r in page.records],
            "next_cursor": page.next_cursor}
