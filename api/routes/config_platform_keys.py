"""The caller's org's platform API keys (the Bearer keys of this API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CtxDep, OrgDep
from services.auth.keys import ApiKey
from services.config.paging import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/config/platform-keys", tags=["config"])


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(default="", max_length=200)


def _out(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix,
            "created_at": key.created_at, "revoked": key.revoked}


@router.post("", status_code=201)
async def create_key(ctx: CtxDep, org_id: OrgDep, body: KeyIn | None = None) -> dict[str, Any]:
    """The raw key is in this response only: it is stored as a hash."""
    raw, record = await ctx.keys.create(org_id, body.name if body else "")
    return {**_out(record), "key": raw}


@router.get("")
async def list_keys(
    ctx: CtxDep, org_id: OrgDep, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    page = await ctx.keys.list(org_id, limit=limit, cursor=cursor)
    return {"data": [_out(k) for k in page.items], "next_cursor": page.next_cursor}


@router.delete("/{key_id}", status_code=204)
async def revoke_key(
    key_id: Annotated[str, Path(max_length=64)], ctx: CtxDep, org_id: OrgDep,
) -> Response:
    await ctx.keys.revoke(org_id, key_id)
    return Response(status_code=204)
