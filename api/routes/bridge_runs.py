"""POST /api/v2/model/chat/completion: run a published bridge.

Delivery follows the bridge's `response_format` (or the request's override): `default`
answers inline with the finished job; `async` answers 202 with the queued job; `webhook`
answers 202 and the result is POSTed to the configured URL when the job ends.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from api.deps import CtxDep, OrgDep
from api.openapi import MODEL_CALL_ERRORS
from api.responses import Json
from api.routes.governor import GateDep
from api.routes.jobs import JobView
from services.auth.principal import Principal
from services.bridges.model import BridgeType
from services.bridges.run import BridgeRunRequest, bridge_meta, build_payload
from services.bridges.validate import webhook_target
from services.chat.schemas import ChatJobPayload
from services.jobs.model import Job, JobKind
from services.limits.concurrency import Held

router = APIRouter(prefix="/api/v2/model", tags=["bridges"])


def _body(job: Job) -> dict[str, object]:
    base = f"/api/v1/jobs/{job.id}"
    return {**job.public(), "links": {"self": base, "cancel": f"{base}/cancel",
                                      "events": f"{base}/events"}}


@router.post("/chat/completion", response_model=JobView, responses={
    **MODEL_CALL_ERRORS, 202: {"model": JobView, "description": "Queued (`async` or `webhook` delivery)"}})
async def run_bridge(
    body: BridgeRunRequest, ctx: CtxDep, org_id: OrgDep, gate: GateDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Json:
    resolved = await ctx.bridges.resolve(org_id, body.ref)
    delivery = body.response_format or resolved.spec.response_format
    webhook = webhook_target(delivery) if delivery.type == "webhook" else None
    turn = None
    payload: ChatJobPayload
    if resolved.type == BridgeType.CHATBOT or body.thread_id:
        # A conversation turn: the thread's history is the model's context.
        turn = await ctx.turns.prepare(Principal(org_id), body.ref, body.thread_id, body.chat_messages(),
                                       body.variables)
        kind, payload, meta = JobKind.CHATBOT, turn.payload, turn.meta
    else:
        payload = build_payload(resolved, body.chat_messages(), variables=body.variables)
        kind, meta = JobKind.MODEL, bridge_meta(resolved)
    # The bridge's guardrails (block list, moderation, redaction) run in the job lifecycle.
    request = payload.model_dump(mode="json", exclude_none=True)
    try:
        admitted = await gate.admit(request, bridge_id=resolved.bridge_id,
                                    thread=turn.payload.thread_id if turn else body.thread_id,
                                    bridge_policy=resolved.spec.limits)
    except BaseException:
        if turn is not None:
            await ctx.turns.drop(turn)  # refused: its turn number must not hold the thread up
        raise
    if delivery.type == "default":
        job = None
        try:
            async with gate.governor.occupy(admitted, Held.INLINE):
                job = await ctx.lifecycle.run_inline(org_id, kind, payload, meta)
        finally:
            await gate.settle(job.meta if job else None)
        return gate.answer(Json(_body(job), status_code=200))
    try:
        if turn is not None:
            created = await ctx.turns.submit_turn(Principal(org_id), turn, webhook=webhook,
                                                  idempotency_key=idempotency_key, extra_meta=gate.job_meta())
        else:
            if webhook is not None:
                request["webhook"] = webhook
            created = await ctx.lifecycle.submit(org_id, kind, request, idempotency_key=idempotency_key,
                                                 meta={**meta, **gate.job_meta()})
    except BaseException:
        await gate.settle(None)
        raise
    await gate.queued(created.job.id, created.created)
    headers = {"Location": f"/api/v1/jobs/{created.job.id}"}
    if not created.created:
        headers["Idempotent-Replayed"] = "true"
    return gate.answer(Json(_body(created.job), status_code=202, headers=headers))
