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
from api.routes.jobs import JobView
from services.bridges.run import BridgeRunRequest, bridge_meta, build_payload, job_kind
from services.bridges.validate import webhook_target
from services.jobs.model import Job

router = APIRouter(prefix="/api/v2/model", tags=["bridges"])


def _body(job: Job) -> dict[str, object]:
    base = f"/api/v1/jobs/{job.id}"
    return {**job.public(), "links": {"self": base, "cancel": f"{base}/cancel",
                                      "events": f"{base}/events"}}


@router.post("/chat/completion", response_model=JobView, responses={
    **MODEL_CALL_ERRORS, 202: {"model": JobView, "description": "Queued (`async` or `webhook` delivery)"}})
async def run_bridge(
    body: BridgeRunRequest, ctx: CtxDep, org_id: OrgDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Json:
    resolved = await ctx.bridges.resolve(org_id, body.ref)
    payload = build_payload(resolved, body.chat_messages(), variables=body.variables,
                            thread_id=body.thread_id)
    delivery = body.response_format or resolved.spec.response_format
    kind, meta = job_kind(resolved), bridge_meta(resolved)
    if delivery.type == "default":
        job = await ctx.lifecycle.run_inline(org_id, kind, payload, meta)
        return Json(_body(job), status_code=200)
    request = payload.model_dump(mode="json", exclude_none=True)
    if delivery.type == "webhook":
        request["webhook"] = webhook_target(delivery)
    created = await ctx.lifecycle.submit(org_id, kind, request, idempotency_key=idempotency_key,
                                         meta=meta)
    headers = {"Location": f"/api/v1/jobs/{created.job.id}"}
    if not created.created:
        headers["Idempotent-Replayed"] = "true"
    return Json(_body(created.job), status_code=202, headers=headers)
