"""POST /api/v2/model/chat/completion: run a published bridge.

Delivery follows the bridge's `response_format` (or the request's override): `default`
answers inline with the finished job; `async` answers 202 with the queued job; `webhook`
answers 202 and the result is POSTed to the configured URL when the job ends.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from api.deps import CtxDep, OrgDep
from api.responses import Json
from api.routes.governor import GateDep
from services.bridges.inline import run_inline
from services.bridges.run import BridgeRunRequest, bridge_meta, build_payload, job_kind
from services.bridges.validate import webhook_target
from services.config.runtime import bridges_of
from services.guardrails import service as guardrails
from services.jobs import service as jobs
from services.jobs.model import Job
from services.limits.concurrency import Held

router = APIRouter(prefix="/api/v2/model", tags=["bridges"])


def _body(job: Job) -> dict[str, object]:
    base = f"/api/v1/jobs/{job.id}"
    return {**job.public(), "links": {"self": base, "cancel": f"{base}/cancel",
                                      "events": f"{base}/events"}}


@router.post("/chat/completion")
async def run_bridge(
    body: BridgeRunRequest, ctx: CtxDep, org_id: OrgDep, gate: GateDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Json:
    resolved = await bridges_of(ctx).resolve(org_id, body.ref)
    payload = build_payload(resolved, body.chat_messages(), variables=body.variables,
                            thread_id=body.thread_id)
    # What the provider is sent is also what the job records (record-only redaction needs
    # the lifecycle to store a second copy; it lands with it).
    payload = guardrails.apply(resolved.spec.guardrails, payload)
    delivery = body.response_format or resolved.spec.response_format
    kind, meta = job_kind(resolved), bridge_meta(resolved)
    request = payload.model_dump(mode="json", exclude_none=True)
    admitted = await gate.admit(request, bridge_id=resolved.bridge_id, thread=body.thread_id,
                                bridge_policy=resolved.spec.limits)
    if delivery.type == "default":
        job = None
        try:
            async with gate.governor.occupy(admitted, Held.INLINE):
                job = await run_inline(ctx, org_id, kind, payload, meta)
        finally:
            await gate.settle(job.meta if job else None)
        return gate.answer(Json(_body(job), status_code=200))
    if delivery.type == "webhook":
        request["webhook"] = webhook_target(delivery)
    try:
        created = await jobs.submit(ctx, org_id, kind, request, idempotency_key=idempotency_key,
                                    meta={**meta, **gate.job_meta()})
    except BaseException:
        await gate.settle(None)
        raise
    await gate.queued(created.job.id, created.created)
    headers = {"Location": f"/api/v1/jobs/{created.job.id}"}
    if not created.created:
        headers["Idempotent-Replayed"] = "true"
    return gate.answer(Json(_body(created.job), status_code=202, headers=headers))
