"""Typed dependencies for routes: the process Context and the caller's org."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.context import Context


async def get_ctx(request: Request) -> Context:
    # async: a plain `def` dependency would run in the thread pool on every request.
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


async def current_org(request: Request, ctx: CtxDep) -> str:
    """The org of the API key in `Authorization: Bearer <key>`; 401 without a valid one."""
    # api/scopes.enforce_scope has authenticated already (every mapped route).
    if (caller := getattr(request.state, "principal", None)) is not None:
        return str(caller.org_id)
    org_id = (await ctx.governance.authenticator.authenticate(request.headers.get("authorization"))).org_id
    request.state.org_id = org_id
    return org_id


OrgDep = Annotated[str, Depends(current_org)]
