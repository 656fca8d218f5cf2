"""The caller's org's platform API keys (the Bearer keys of this API): scopes, expiry,
usage counts and last use; a revocation reaches every process within a second."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CtxDep, OrgDep
from api.routes.audit import AuditDep
from api.scopes import authenticator_of
from services.auth.keys import ApiKey
from services.auth.scopes import Scope
from services.config.paging import DEFAULT_LIMIT, MAX_LIMIT
from services.errors import Invalid

router = APIRouter(prefix="/api/v1/config/platform-keys", tags=["config"])


class KeyIn(BaseModel):
    # Not strict as a whole: scopes are enums read from their JSON strings.
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=200, strict=True)
    # None: every scope (as keys made before scopes existed).
    scopes: list[Scope] | None = Field(default=None, min_length=1)
    expires_at: float | None = Field(default=None, strict=True,
                                     description="unix time after which the key is refused")


def _out(key: ApiKey, uses: tuple[int, float | None] = (0, None)) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "created_at": key.created_at,
            "revoked": key.revoked, "scopes": key.scopes, "expires_at": key.expires_at,
            "usage_count": uses[0], "last_used_at": uses[1]}


@router.post("", status_code=201)
async def create_key(ctx: CtxDep, org_id: OrgDep, audit: AuditDep, body: KeyIn | None = None) -> dict[str, Any]:
    """The raw key is in this response only: it is stored as a hash."""
    body = body or KeyIn()
    if body.expires_at is not None and body.expires_at <= time.time():
        raise Invalid("expires_at must be in the future", field="expires_at")
    raw, record = await ctx.keys.create(
        org_id, body.name, scopes=[s.value for s in body.scopes] if body.scopes else None,
        expires_at=body.expires_at)
    await audit("platform_key.created", "platform_key", record.id, after=_out(record))
    return {**_out(record), "key": raw}


@router.get("")
async def list_keys(
    request: Request, ctx: CtxDep, org_id: OrgDep, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    page = await ctx.keys.list(org_id, limit=limit, cursor=cursor)
    authenticator = authenticator_of(request)
    await authenticator.flush()  # this process's counts; others flush every second
    uses = await authenticator.usage.read([k.id for k in page.items])
    return {"data": [_out(k, uses[k.id]) for k in page.items], "next_cursor": page.next_cursor}


@router.delete("/{key_id}", status_code=204)
async def revoke_key(
    request: Request, key_id: Annotated[str, Path(max_length=64)], ctx: CtxDep, org_id: OrgDep, audit: AuditDep,
) -> Response:
    await ctx.keys.revoke(org_id, key_id)
    await authenticator_of(request).revoked(key_id)
    await audit("platform_key.revoked", "platform_key", key_id, after={"revoked": True})
    return Response(status_code=204)
