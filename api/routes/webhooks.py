"""Webhooks: endpoints (CRUD, secret rotation, test send), the org's default secret, and
the delivery log with redelivery. Secrets appear only in create and rotate responses."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CtxDep, OrgDep
from api.responses import Json
from api.routes.audit import AuditDep
from services.errors import Invalid
from services.webhooks import service
from services.webhooks.models import DeliveryStatus

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
_CURSOR = re.compile(r"dlv_[0-9a-f]{26}")


class EndpointCreate(BaseModel):
    # Strict: `false` is not a number and `0` not a boolean.
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(min_length=1, max_length=2048)
    description: str = Field(default="", max_length=500)
    # Empty: every event.
    event_types: list[str] = Field(default_factory=list, max_length=10)
    enabled: bool = True


class EndpointPatch(BaseModel):
    # Strict: `false` is not a number and `0` not a boolean.
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] | None = Field(default=None, max_length=10)
    enabled: bool | None = None


class Rotation(BaseModel):
    # Strict: `false` is not a number and `0` not a boolean.
    model_config = ConfigDict(extra="forbid", strict=True)
    # How long the old secret keeps signing; the default is WEBHOOKS_ROTATION_OVERLAP_S.
    overlap_s: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)


@router.get("/endpoints")
async def list_endpoints(ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    return {"data": [e.public() for e in await service.list_endpoints(ctx.webhooks, org_id)]}


@router.post("/endpoints", status_code=201, responses={409: {"description": "The org has the most endpoints allowed"}})
async def create_endpoint(body: EndpointCreate, ctx: CtxDep, org_id: OrgDep, audit: AuditDep) -> Json:
    """Register an endpoint. The response carries its signing secret: the only time it shows."""
    endpoint, secret = await service.create_endpoint(
        ctx.webhooks, org_id, url=body.url, description=body.description,
        event_types=body.event_types, enabled=body.enabled,
    )
    await audit("webhook_endpoint.created", "webhook_endpoint", endpoint.id, after=endpoint.public())
    return Json({**endpoint.public(), "secret": secret}, status_code=201)


@router.get("/endpoints/{endpoint_id}")
async def get_endpoint(endpoint_id: str, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    return (await service.get_endpoint(ctx.webhooks, org_id, endpoint_id)).public()


@router.patch("/endpoints/{endpoint_id}")
async def update_endpoint(
    endpoint_id: str, body: EndpointPatch, ctx: CtxDep, org_id: OrgDep, audit: AuditDep,
) -> dict[str, Any]:
    changes = service.EndpointChanges(**body.model_dump(exclude_unset=True))
    before = (await service.get_endpoint(ctx.webhooks, org_id, endpoint_id)).public()
    after = (await service.update_endpoint(ctx.webhooks, org_id, endpoint_id, changes)).public()
    await audit("webhook_endpoint.updated", "webhook_endpoint", endpoint_id, before=before, after=after)
    return after


@router.delete("/endpoints/{endpoint_id}", status_code=204)
async def delete_endpoint(endpoint_id: str, ctx: CtxDep, org_id: OrgDep, audit: AuditDep) -> Response:
    await service.delete_endpoint(ctx.webhooks, org_id, endpoint_id)
    await audit("webhook_endpoint.deleted", "webhook_endpoint", endpoint_id)
    return Response(status_code=204)


@router.post("/endpoints/{endpoint_id}/rotate-secret")
async def rotate_secret(
    endpoint_id: str, ctx: CtxDep, org_id: OrgDep, audit: AuditDep, body: Rotation | None = None,
) -> dict[str, Any]:
    """A new secret, shown once; the old one keeps signing (both sent) during the overlap."""
    endpoint, secret = await service.rotate_endpoint_secret(
        ctx.webhooks, org_id, endpoint_id, overlap_s=body.overlap_s if body else None)
    await audit("webhook_endpoint.secret_rotated", "webhook_endpoint", endpoint_id, after={"secret": secret})
    return {**endpoint.public(), "secret": secret}


@router.post("/endpoints/{endpoint_id}/test", status_code=202)
async def test_endpoint(endpoint_id: str, ctx: CtxDep, org_id: OrgDep) -> Json:
    delivery = await service.send_test(ctx.webhooks, org_id, endpoint_id)
    return Json(delivery.public(), status_code=202)


@router.get("/secret")
async def get_org_secret(ctx: CtxDep, org_id: OrgDep) -> dict[str, str]:
    """The org's default secret: signs webhooks sent to a per-request URL."""
    return {"secret": await service.org_secret(ctx.webhooks, org_id)}


@router.post("/secret/rotate")
async def rotate_org_secret(
    ctx: CtxDep, org_id: OrgDep, audit: AuditDep, body: Rotation | None = None,
) -> dict[str, str]:
    overlap_s = body.overlap_s if body else None
    secret = await service.rotate_org_secret(ctx.webhooks, org_id, overlap_s=overlap_s)
    await audit("webhook_secret.rotated", "webhook_secret", org_id, after={"secret": secret})
    return {"secret": secret}


@router.get("/deliveries")
async def list_deliveries(
    ctx: CtxDep, org_id: OrgDep, job_id: str | None = None, status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None,
) -> dict[str, Any]:
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise Invalid("malformed cursor", field="cursor")
    page = await service.list_deliveries(ctx.webhooks, org_id, job_id=job_id, status=status,
                                         limit=limit, cursor=cursor)
    return {"data": [d.public() for d in page.deliveries], "next_cursor": page.next_cursor}


@router.get("/deliveries/{delivery_id}")
async def get_delivery(delivery_id: str, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    delivery, attempts = await service.get_delivery(ctx.webhooks, org_id, delivery_id)
    return {**delivery.public(), "attempt_log": [a.model_dump(mode="json") for a in attempts]}


@router.post("/deliveries/{delivery_id}/redeliver", status_code=202, responses={
    409: {"description": "In progress, endpoint deleted or disabled, or event expired"}})
async def redeliver(delivery_id: str, ctx: CtxDep, org_id: OrgDep) -> Json:
    """Send the event again (same webhook-id) with a fresh retry schedule."""
    delivery = await service.redeliver(ctx.webhooks, org_id, delivery_id)
    return Json(delivery.public(), status_code=202)
