"""Bridge configuration: CRUD on the draft, versions, publish and rollback (org-scoped)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from api.deps import CtxDep, OrgDep
from api.routes.audit import AuditDep
from services.bridges.schemas import (
    BridgeCreate,
    BridgeOut,
    BridgeUpdate,
    PublishRequest,
    RollbackRequest,
    VersionOut,
)
from services.config.paging import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/config/bridges", tags=["config"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
BridgeCursor = Annotated[str | None, Query(pattern=r"^br_[0-9a-f]{1,40}$")]
VersionCursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,9}$")]
BridgeId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=201, responses={409: {"description": "The slug is taken"}})
async def create_bridge(body: BridgeCreate, ctx: CtxDep, org_id: OrgDep, audit: AuditDep) -> BridgeOut:
    """Create a bridge; by default its spec is published at once as version 1."""
    out = BridgeOut.of(await ctx.bridges.create(org_id, body))
    await audit("bridge.created", "bridge", out.id, after=out.model_dump(mode="json"))
    return out


@router.get("")
async def list_bridges(
    ctx: CtxDep, org_id: OrgDep, limit: Limit = DEFAULT_LIMIT, cursor: BridgeCursor = None,
) -> dict[str, Any]:
    page = await ctx.bridges.list(org_id, limit=limit, cursor=cursor)
    return {"data": [BridgeOut.of(b) for b in page.items], "next_cursor": page.next_cursor}


@router.get("/{bridge_id}")
async def get_bridge(bridge_id: BridgeId, ctx: CtxDep, org_id: OrgDep) -> BridgeOut:
    return BridgeOut.of(await ctx.bridges.get(org_id, bridge_id))


@router.patch("/{bridge_id}", responses={409: {"description": "The slug is taken"}})
async def update_bridge(
    bridge_id: BridgeId, body: BridgeUpdate, ctx: CtxDep, org_id: OrgDep, audit: AuditDep,
) -> BridgeOut:
    """Name, slug, type and status apply at once; spec fields edit the draft."""
    before = BridgeOut.of(await ctx.bridges.get(org_id, bridge_id))
    out = BridgeOut.of(await ctx.bridges.update(org_id, bridge_id, body))
    await audit("bridge.updated", "bridge", bridge_id, before=before.model_dump(mode="json"),
                after=out.model_dump(mode="json"))
    return out


@router.delete("/{bridge_id}", status_code=204)
async def delete_bridge(bridge_id: BridgeId, ctx: CtxDep, org_id: OrgDep, audit: AuditDep) -> Response:
    await ctx.bridges.delete(org_id, bridge_id)
    await audit("bridge.deleted", "bridge", bridge_id)
    return Response(status_code=204)


@router.get("/{bridge_id}/versions")
async def list_versions(
    bridge_id: BridgeId, ctx: CtxDep, org_id: OrgDep, limit: Limit = DEFAULT_LIMIT,
    cursor: VersionCursor = None,
) -> dict[str, Any]:
    page = await ctx.bridges.versions(org_id, bridge_id, limit=limit, cursor=cursor)
    return {"data": [VersionOut.of(v) for v in page.items], "next_cursor": page.next_cursor}


@router.get("/{bridge_id}/versions/{version}")
async def get_version(
    bridge_id: BridgeId, version: Annotated[int, Path(ge=1)], ctx: CtxDep, org_id: OrgDep,
) -> VersionOut:
    return VersionOut.of(await ctx.bridges.version(org_id, bridge_id, version))


@router.post("/{bridge_id}/publish", status_code=201,
             responses={409: {"description": "A concurrent publish took the version"}})
async def publish_bridge(
    bridge_id: BridgeId, ctx: CtxDep, org_id: OrgDep, audit: AuditDep, body: PublishRequest | None = None,
) -> VersionOut:
    """Freeze the draft as the next version; runs use it from now on."""
    note = body.note if body else ""
    out = VersionOut.of(await ctx.bridges.publish(org_id, bridge_id, note=note))
    await audit("bridge.published", "bridge", bridge_id, after={"version": out.version, "note": note})
    return out


@router.post("/{bridge_id}/rollback")
async def rollback_bridge(
    bridge_id: BridgeId, body: RollbackRequest, ctx: CtxDep, org_id: OrgDep, audit: AuditDep,
) -> BridgeOut:
    """Point the bridge at an older version; the history is kept."""
    before = await ctx.bridges.get(org_id, bridge_id)
    out = BridgeOut.of(await ctx.bridges.rollback(org_id, bridge_id, body.version))
    await audit("bridge.rolled_back", "bridge", bridge_id, before={"version": before.published_version},
                after={"version": body.version})
    return out
