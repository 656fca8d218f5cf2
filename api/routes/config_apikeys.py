"""Provider credentials per org and service: saved encrypted, shown only masked."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CtxDep, OrgDep
from api.routes.audit import AuditDep
from services.config.paging import DEFAULT_LIMIT, MAX_LIMIT
from services.credentials.model import Credential

router = APIRouter(prefix="/api/v1/config/apikeys", tags=["config"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(pattern=r"^cred_[0-9a-f]{1,40}$")]
CredentialId = Annotated[str, Path(max_length=64)]


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    service: str = Field(min_length=1, max_length=64)
    api_key: str = Field(min_length=1, max_length=4096, repr=False)
    name: str = Field(default="", max_length=200)


class CredentialOut(BaseModel):
    """Never the key: only its masked hint (e.g. `sk-...abcd`)."""

    id: str
    service: str
    name: str
    masked_key: str
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, cred: Credential) -> CredentialOut:
        return cls(id=cred.id, service=cred.provider, name=cred.name, masked_key=cred.hint,
                   created_at=cred.created_at, updated_at=cred.updated_at)


@router.post("", status_code=201)
async def save_credential(body: CredentialIn, ctx: CtxDep, org_id: OrgDep, audit: AuditDep) -> CredentialOut:
    """Save the org's key for a service, replacing any earlier one for that service."""
    saved = CredentialOut.of(await ctx.credentials.put(org_id, body.service, body.api_key, name=body.name))
    await audit("credential.saved", "credential", saved.id, after=saved.model_dump(mode="json"))
    return saved


@router.get("")
async def list_credentials(
    ctx: CtxDep, org_id: OrgDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
) -> dict[str, Any]:
    page = await ctx.credentials.list(org_id, limit=limit, cursor=cursor)
    return {"data": [CredentialOut.of(c) for c in page.items], "next_cursor": page.next_cursor}


@router.get("/{credential_id}")
async def get_credential(credential_id: CredentialId, ctx: CtxDep, org_id: OrgDep) -> CredentialOut:
    return CredentialOut.of(await ctx.credentials.get(org_id, credential_id))


@router.delete("/{credential_id}", status_code=204)
async def delete_credential(credential_id: CredentialId, ctx: CtxDep, org_id: OrgDep, audit: AuditDep) -> Response:
    await ctx.credentials.delete(org_id, credential_id)
    await audit("credential.deleted", "credential", credential_id)
    return Response(status_code=204)
