"""Submitting, reading, cancelling and waiting on jobs: the API's side of the pipeline."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from services.broker.queues import Queue
from services.chat.schemas import ChatJobPayload
from services.errors import Conflict, NotFound, Unavailable
from services.jobs.events import job_finished
from services.jobs.messages import JobMessage
from services.jobs.model import CANCEL_FROM, Job, JobError, JobKind, JobStatus
from services.jobs.store import Created, Page

if TYPE_CHECKING:
    from services.context import Context

PAYLOADS: dict[JobKind, type[BaseModel]] = {
    JobKind.MODEL: ChatJobPayload,
    JobKind.CHATBOT: ChatJobPayload,
    JobKind.RAG: ChatJobPayload,
}


def parse_payload(kind: JobKind, payload: dict[str, Any]) -> dict[str, Any]:
    """Validate a payload for its kind; raises pydantic.ValidationError naming each field."""
    model = PAYLOADS[kind].model_validate(payload)
    return model.model_dump(mode="json", exclude_unset=True)


def body_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def submit(
    ctx: Context, org_id: str, kind: JobKind, request: dict[str, Any], *,
    idempotency_key: str | None = None, meta: dict[str, Any] | None = None,
) -> Created:
    """Record the job, then publish it; the broker's confirm comes before we answer.

    If the publish fails the job is marked failed (never left `queued` forever), its
    idempotency key is released so the client's retry can succeed, and Unavailable is raised.
    """
    job = Job(org_id=org_id, kind=kind, request=request, idempotency_key=idempotency_key,
              meta=meta or {})
    created = await ctx.jobs.create(job, body_hash=body_hash({"kind": kind.value, "payload": request})
                                    if idempotency_key else None)
    if created.conflict:
        raise Conflict("Idempotency-Key was used with a different body", code="idempotency_conflict",
                       job_id=created.job.id)
    if not created.created:
        return created
    try:
        await ctx.broker.publish(Queue.for_kind(kind), JobMessage(job_id=job.id, org_id=org_id, kind=kind).outgoing())
    except Unavailable as exc:
        await ctx.jobs.transition(job.id, [JobStatus.QUEUED], JobStatus.FAILED, {
            "finished_at": time.time(),
            "error": JobError(code="broker_unavailable", message="the job could not be queued",
                              retryable=True).model_dump(),
        })
        if idempotency_key:
            await ctx.jobs.release_idempotency(org_id, idempotency_key)
        raise Unavailable("the job queue is unavailable; retry shortly", code="broker_unavailable",
                          retry_after_s=5) from exc
    return created


async def get_job(ctx: Context, org_id: str, job_id: str, *, wait_s: float = 0) -> Job:
    """The org's job (another org's job is NotFound), optionally waiting for it to end."""
    job = await ctx.jobs.wait(job_id, wait_s) if wait_s > 0 else await ctx.jobs.get(job_id)
    if job is None or job.org_id != org_id:
        raise NotFound(f"job {job_id} not found")
    return job


async def list_jobs(ctx: Context, org_id: str, **filters: Any) -> Page:
    return await ctx.jobs.list(org_id, **filters)


async def cancel(ctx: Context, org_id: str, job_id: str) -> Job:
    """Cancel a queued, retrying or running job; a running job's result is then dropped."""
    job = await get_job(ctx, org_id, job_id)
    if job.status.terminal:
        raise Conflict(f"job is already {job.status.value}", code="job_finished")
    done = await ctx.jobs.transition(job_id, CANCEL_FROM, JobStatus.CANCELLED, {"finished_at": time.time()})
    if done is None:  # it ended between our read and the cancel
        latest = await get_job(ctx, org_id, job_id)
        raise Conflict(f"job is already {latest.status.value}", code="job_finished")
    await job_finished(ctx, done)
    return done
