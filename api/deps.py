"""Typed dependencies for routes: the process Context and the caller's org."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from services.context import Context
from services.errors import Invalid


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


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query_params(request: HTTPConnection) -> None:
    """An unknown query parameter is a 422 naming it, as an unknown body field is (a typo such
    as `?stauts=failed` must not silently return everything). The OpenAI-compatible /v1
    routes keep OpenAI's tolerance; the WebSocket reads its own (`?token=`)."""
    if request.scope.get("type") != "http":
        return
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant") or request.url.path.startswith("/v1/"):
        return
    unknown = sorted(set(request.query_params) - _query_names(route.dependant))
    if unknown:
        raise Invalid("unknown query parameters", fields=[
            {"field": name, "reason": "unknown query parameter"} for name in unknown])
