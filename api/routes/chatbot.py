"""The chatbot API: the org's end-user authentication (signing secret, public keys,
allowed origins; API key only) and a turn over plain HTTP, delivered as the bridge's
response format says: `default` answers with the reply, `async` answers 202 with the job,
`webhook` answers 202 and POSTs the result; `Accept: text/event-stream` streams it as SSE
(`thread`, `chunk`..., `done`). The WebSocket is in chatbot_ws.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.openapi import MODEL_CALL_ERRORS
from api.principal import OrgAdminDep, PrincipalDep, preflight
from api.responses import Json
from api.routes.audit import AuditDep
from services.auth.enduser.model import PublicKey
from services.auth.enduser.service import ChatbotAuthService
from services.bridges.validate import webhook_target
from services.common.sse import sse
from services.errors import Permanent, PlatformError, Unavailable
from services.providers.types import Message
from services.threads.schemas import TurnRequest
from services.threads.turn_runner import JobTurnRunner
from services.threads.turns import DONE, NoLimits, TurnLimiter

router = APIRouter(prefix="/api/v1/chatbot", tags=["chatbot"])


def _state(request: Request, name: str) -> Any:
    value = getattr(request.app.state, name, None)
    if value is None:
        raise Unavailable(f"the chatbot {name.replace('_', ' ')} is not started in this process",
                          code="chatbot_unavailable")
    return value


async def get_chatbot_auth(request: Request) -> ChatbotAuthService:
    service: ChatbotAuthService = _state(request, "chatbot_auth")
    return service


async def get_turn_runner(request: Request) -> JobTurnRunner:
    runner: JobTurnRunner = _state(request, "turn_runner")
    return runner


async def get_turn_limiter(request: Request) -> TurnLimiter:
    limiter: TurnLimiter = getattr(request.app.state, "turn_limiter", None) or NoLimits()
    return limiter


AuthDep = Annotated[ChatbotAuthService, Depends(get_chatbot_auth)]
RunnerDep = Annotated[JobTurnRunner, Depends(get_turn_runner)]
LimiterDep = Annotated[TurnLimiter, Depends(get_turn_limiter)]


class Origins(BaseModel):
    model_config = ConfigDict(extra="forbid")
    origins: list[str] = Field(max_length=50)


@router.get("/auth")
async def get_auth(org_id: OrgAdminDep, auth: AuthDep) -> dict[str, Any]:
    """Whether a secret exists (its last 4 characters), the public keys and the origins."""
    return (await auth.get(org_id)).public()


# Every change to an org's chatbot credentials is audited: object `chatbot_auth:<org>` (the
# key's id for public keys), before/after as GET /auth shows them (secrets masked).
@router.post("/secret", status_code=201)
async def rotate_secret(org_id: OrgAdminDep, auth: AuthDep, audit: AuditDep) -> Json:
    """Create or replace the HS256 signing secret. The response is the only time it shows."""
    before = (await auth.get(org_id)).public()
    secret, record = await auth.rotate_secret(org_id)
    await audit("chatbot_secret.rotated" if before["has_secret"] else "chatbot_secret.created", "chatbot_auth",
                org_id, before=before, after={**record.public(), "secret": secret})
    return Json({**record.public(), "secret": secret}, status_code=201)


@router.delete("/secret", status_code=204, responses={404: {"description": "No secret is set"}})
async def delete_secret(org_id: OrgAdminDep, auth: AuthDep, audit: AuditDep) -> Response:
    before = (await auth.get(org_id)).public()
    await auth.delete_secret(org_id)
    await audit("chatbot_secret.deleted", "chatbot_auth", org_id, before=before,
                after=(await auth.get(org_id)).public())
    return Response(status_code=204)


@router.post("/public-keys", status_code=201)
async def add_public_key(body: PublicKey, org_id: OrgAdminDep, auth: AuthDep, audit: AuditDep) -> Json:
    """Register an RS256 or ES256 public key (PEM); tokens name it with the `kid` header."""
    record = await auth.add_public_key(org_id, PublicKey(kid=body.kid, alg=body.alg, pem=body.pem))
    await audit("chatbot_public_key.added", "chatbot_public_key", body.kid,
                after={"kid": body.kid, "alg": body.alg})
    return Json(record.public(), status_code=201)


@router.delete("/public-keys/{kid}", status_code=204)
async def delete_public_key(kid: str, org_id: OrgAdminDep, auth: AuthDep, audit: AuditDep) -> Response:
    await auth.delete_public_key(org_id, kid)
    await audit("chatbot_public_key.removed", "chatbot_public_key", kid, before={"kid": kid})
    return Response(status_code=204)


@router.put("/origins")
async def set_origins(body: Origins, org_id: OrgAdminDep, auth: AuthDep, audit: AuditDep) -> dict[str, Any]:
    """The browser origins allowed to call the chatbot API with an end user's token."""
    before = (await auth.get(org_id)).public()
    after = (await auth.set_origins(org_id, body.origins)).public()
    await audit("chatbot_origins.updated", "chatbot_auth", org_id,
                before={"allowed_origins": before["allowed_origins"]},
                after={"allowed_origins": after["allowed_origins"]})
    return after


@router.post("/{bridge}/messages", response_model=None, responses=MODEL_CALL_ERRORS)
async def run_turn(
    request: Request, bridge: str, body: TurnRequest, principal: PrincipalDep, runner: RunnerDep,
    limiter: LimiterDep,
) -> Json | StreamingResponse:
    """Run one turn of `thread_id` (a new thread when absent) on the bridge."""
    await limiter.check(principal, bridge, body.thread_id)
    streamed = "text/event-stream" in request.headers.get("accept", "")
    message = Message(role="user", content=body.content)
    turn = await runner.prepare(principal, bridge, body.thread_id, [message], body.variables, stream=streamed)
    opened = turn.opened.data
    if streamed:
        return StreamingResponse(_sse(runner, principal, turn), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"})
    delivery = turn.resolved.spec.response_format
    if delivery.type in ("async", "webhook"):
        webhook = webhook_target(delivery) if delivery.type == "webhook" else None
        created = await runner.submit_turn(principal, turn, webhook=webhook)
        return Json({**opened, "job": created.job.public()}, status_code=202,
                    headers={"Location": f"/api/v1/jobs/{created.job.id}"})
    result: dict[str, Any] | None = None
    async for event in runner.stream(principal, turn):
        if event.type == DONE:
            result = event.data
    if result is None:
        raise Permanent("the turn ended without an answer", code="turn_incomplete")
    return Json({**opened, **result})


async def _sse(runner: JobTurnRunner, principal: Any, turn: Any) -> AsyncIterator[bytes]:
    yield sse("thread", turn.opened.data)
    try:
        async for event in runner.stream(principal, turn):
            yield sse(event.type, event.data)
    except PlatformError as exc:
        yield sse("error", exc.as_dict())


router.add_api_route("/{path:path}", preflight, methods=["OPTIONS"], include_in_schema=False)
