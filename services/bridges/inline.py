"""Runs a chat payload in the calling process (the inline path) and records it as a job.

The record is what the queued path leaves behind too (result, provider, usage, cost, the
bridge version), so usage, metrics and `GET /api/v1/jobs/{id}` see inline runs as well;
`job_finished` tells the same listeners. It costs two job-store writes per run.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from services.chat.executor import StreamEvent, execute_chat, stream_chat
from services.chat.schemas import ChatJobPayload
from services.errors import PlatformError
from services.jobs.events import job_finished
from services.jobs.model import FINISH_FROM, Job, JobError, JobKind, JobStatus

if TYPE_CHECKING:
    from services.context import Context

META_FIELDS = ("provider", "model", "usage", "cost_usd", "cache", "latency_ms", "attempts")


async def _start(
    ctx: Context, org_id: str, kind: JobKind, payload: ChatJobPayload, meta: dict[str, Any],
) -> Job:
    now = time.time()
    job = Job(
        org_id=org_id, kind=kind, status=JobStatus.RUNNING, attempts=1, created_at=now,
        started_at=now, queue_ms=0.0, meta={**meta, "mode": "inline"},
        request=payload.model_dump(mode="json", exclude_none=True),
    )
    await ctx.jobs.create(job)
    return job


async def _finish(
    ctx: Context, job: Job, status: JobStatus, *, result: dict[str, Any] | None = None,
    error: PlatformError | None = None,
) -> Job:
    fields: dict[str, Any] = {"finished_at": time.time()}
    if result is not None:
        fields["result"] = result
        fields["meta"] = {**job.meta, **{k: result[k] for k in META_FIELDS if k in result}}
    if error is not None:
        fields["error"] = JobError(code=error.code, message=error.message,
                                   retryable=error.retryable).model_dump()
    done = await ctx.jobs.transition(job.id, FINISH_FROM, status, fields)
    if done is None:
        return job
    await job_finished(ctx, done)
    return done


async def run_inline(
    ctx: Context, org_id: str, kind: JobKind, payload: ChatJobPayload, meta: dict[str, Any],
) -> Job:
    """Run to the final answer; the finished job is returned, a failure raised."""
    job = await _start(ctx, org_id, kind, payload, meta)
    try:
        result = await execute_chat(ctx, payload, org_id=org_id, job_id=job.id)
    except PlatformError as exc:
        await _finish(ctx, job, JobStatus.FAILED, error=exc)
        raise
    return await _finish(ctx, job, JobStatus.SUCCEEDED, result=result)


async def stream_inline(
    ctx: Context, org_id: str, kind: JobKind, payload: ChatJobPayload, meta: dict[str, Any],
) -> AsyncGenerator[tuple[Job, StreamEvent], None]:
    """Yield (job, event) as the model writes; the job is finished with the `done` event,
    failed on an error, and cancelled when the caller stops reading (client gone)."""
    job = await _start(ctx, org_id, kind, payload, meta)
    finished = False
    try:
        async for event in stream_chat(ctx, payload, org_id=org_id, job_id=job.id):
            if event.event == "done":
                finished = True
                job = await _finish(ctx, job, JobStatus.SUCCEEDED, result=event.data)
            yield job, event
    except PlatformError as exc:
        finished = True
        await _finish(ctx, job, JobStatus.FAILED, error=exc)
        raise
    finally:
        if not finished:
            await _finish(ctx, job, JobStatus.CANCELLED)
