"""The providers (services) a bridge can use, and their models with prices."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CtxDep, OrgDep
from services.bridges import catalog
from services.errors import NotFound

router = APIRouter(prefix="/api/v1/config/services", tags=["config"])


def _open(ctx: CtxDep) -> frozenset[str]:
    return frozenset(ctx.settings.providers.openai_compatible)


@router.get("")
async def list_services(ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    open_providers = _open(ctx)
    return {"data": [
        {"service": name, "models": len(catalog.chat_models(name)),
         "any_model": name in open_providers, "needs_key": name != catalog.MOCK
         and name not in open_providers}
        for name in catalog.providers(open_providers)
    ]}


@router.get("/{service}/models")
async def list_models(service: str, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    """Chat models with prices in USD per million tokens (input, output)."""
    if service not in catalog.providers(_open(ctx)):
        raise NotFound(f"unknown service {service!r}", code="service_not_found")
    return {"data": [m.model_dump() for m in catalog.chat_models(service)]}
