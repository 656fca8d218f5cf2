"""The caller of the chatbot and threads API: an API key's org, or an end user from a JWT.

`Authorization: Bearer aim_...` is an API key (checked by `app.state.api_key_auth`, which
the lifespan sets); any other bearer token is an end user's JWT (checked by
`app.state.enduser_tokens`). An end user calling from a browser must come from one of the
org's allowed origins (none by default); the answer then carries the CORS headers for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from services.auth.enduser.tokens import TokenVerifier
from services.auth.keys import KEY_SCHEME
from services.auth.principal import Principal
from services.errors import Forbidden, Unauthorized, Unavailable

# Authorization header -> the API key's org id (raises Unauthorized).
ApiKeyAuth = Callable[[str | None], Awaitable[str]]


def _state(app_state: Any, name: str) -> Any:
    value = getattr(app_state, name, None)
    if value is None:
        raise Unavailable("the chatbot services are not started in this process", code="chatbot_unavailable")
    return value


async def resolve_principal(app_state: Any, authorization: str | None, origin: str | None) -> Principal:
    """The principal of a bearer credential (also used by the WebSocket, which may carry
    the token as a query parameter)."""
    scheme, _, raw = (authorization or "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise Unauthorized("missing Authorization header (expected 'Bearer <api key or end-user token>')")
    if raw.startswith(f"{KEY_SCHEME}_"):
        auth: ApiKeyAuth = _state(app_state, "api_key_auth")
        return Principal(org_id=await auth(authorization))
    tokens: TokenVerifier = _state(app_state, "enduser_tokens")
    principal = await tokens.verify(raw)
    if origin is not None and origin.lower().rstrip("/") not in await tokens.allowed_origins(principal.org_id):
        raise Forbidden(f"origin {origin} is not allowed for this org's chatbot", code="origin_not_allowed")
    return principal


async def current_principal(request: Request, response: Response) -> Principal:
    origin = request.headers.get("origin")
    principal = await resolve_principal(request.app.state, request.headers.get("authorization"), origin)
    request.state.org_id = principal.org_id
    if origin is not None and principal.is_end_user:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def org_admin(principal: PrincipalDep) -> str:
    """The org of an API key; end users are refused (403)."""
    principal.require_org_key()
    return principal.org_id


OrgAdminDep = Annotated[str, Depends(org_admin)]


async def preflight(request: Request) -> Response:
    """The CORS preflight of the chatbot and threads routes (see the module docstring)."""
    headers = {"Access-Control-Allow-Methods": "GET, POST, PATCH, PUT, DELETE",
               "Access-Control-Allow-Headers": "Authorization, Content-Type",
               "Access-Control-Max-Age": "600", "Vary": "Origin"}
    if origin := request.headers.get("origin"):
        headers["Access-Control-Allow-Origin"] = origin
    return Response(status_code=204, headers=headers)
