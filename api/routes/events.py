"""GET /api/v1/jobs/{id}/events: a job's progress as Server-Sent Events (services/jobs/relay.py)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from api.deps import CtxDep, OrgDep
from api.drain import until_drained
from services.errors import Invalid
from services.jobs.relay import relay_job

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
_EVENT_ID = re.compile(r"\d{1,20}-\d{1,20}")


@router.get("/{job_id}/events", response_class=StreamingResponse, responses={200: {
    "description": "Server-Sent Events: `chunk`, then `done` or `error`",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def job_events(
    job_id: str, ctx: CtxDep, org_id: OrgDep, request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Stream the job's chunks, then `done` or `error`; resumable with `Last-Event-ID`.

    When this process shuts down the stream ends early with a `reconnect` event instead
    (api/drain.py): reconnecting with `Last-Event-ID` continues on another process."""
    job = await ctx.lifecycle.get(org_id, job_id)
    if last_event_id is not None and not _EVENT_ID.fullmatch(last_event_id):
        raise Invalid("Last-Event-ID is not an event id from this stream", field="Last-Event-ID")
    relay = relay_job(ctx.jobs, ctx.streams, job, last_event_id, heartbeat_s=ctx.settings.chat.sse_heartbeat_s)
    return StreamingResponse(
        until_drained(relay, request.app.state.drain, last_event_id),
        media_type="text/event-stream",
        # no-transform / X-Accel-Buffering: proxies (nginx) must not buffer the stream.
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
    )
