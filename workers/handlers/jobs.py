"""Runs one job from a `jobs.*` queue through the shared executor.

At-least-once delivery meets compare-and-set: the start and the finish are both CAS
transitions, so a redelivered message for a finished job is acked and skipped, and a job
cancelled while running keeps its `cancelled` status (its result is dropped).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from services.chat.executor import execute_job
from services.common.logging import job_id_var
from services.errors import Permanent, PlatformError, Retryable
from services.jobs.events import job_finished
from services.jobs.messages import JobMessage
from services.jobs.model import FINISH_FROM, RETRY_FROM, START_FROM, Job, JobError, JobStatus
from services.jobs.retry import backoff_s
from services.observability.prom import JOB_QUEUE_WAIT

if TYPE_CHECKING:
    from services.broker.base import Delivery
    from services.context import Context

log = logging.getLogger(__name__)


async def handle(ctx: Context, delivery: Delivery) -> None:
    try:
        message = JobMessage.decode(delivery.body)
    except ValidationError as exc:
        raise Permanent("malformed job message", code="bad_message") from exc
    job_id_var.set(message.job_id)
    job = await ctx.jobs.get(message.job_id)
    if job is None:
        log.warning("job record missing (expired?); message dropped")
        return
    if job.status.terminal:
        if delivery.redelivered:
            # We may have died between the finish and telling the listeners: tell them again
            # (they are idempotent on job id).
            await job_finished(ctx, job)
        return
    now = time.time()
    started = await ctx.jobs.transition(job.id, START_FROM, JobStatus.RUNNING, {
        "started_at": now, "queue_ms": round((now - job.created_at) * 1000, 3),
    }, count_attempt=True)
    if started is None:
        return
    if started.attempts == 1:
        JOB_QUEUE_WAIT.labels(job.kind.value).observe(max(0.0, now - job.created_at))
    await _run(ctx, started)


async def _run(ctx: Context, job: Job) -> None:
    settings = ctx.settings.jobs
    try:
        result = await execute_job(ctx, job)
    except Retryable as exc:
        deadline = job.created_at + settings.deadline_s
        delay = backoff_s(job.attempts, base_s=settings.retry_base_s, max_s=settings.retry_max_s,
                          retry_after_s=exc.retry_after_s)
        if job.attempts < settings.max_attempts and time.time() + delay < deadline:
            retrying = await ctx.jobs.transition(job.id, RETRY_FROM, JobStatus.RETRYING,
                                                 {"error": _error(exc)})
            if retrying is not None:
                log.info("job will retry", extra={"attempt": job.attempts, "delay_s": round(delay, 3)})
                raise Retryable(exc.message, retry_after_s=delay) from exc
            return
        await _finish(ctx, job, JobStatus.FAILED, error=_error(exc))
        return
    except PlatformError as exc:
        await _finish(ctx, job, JobStatus.FAILED, error=_error(exc))
        return
    except Exception:
        log.exception("job crashed")
        await _finish(ctx, job, JobStatus.FAILED, error=JobError(
            code="internal_error", message="the job failed unexpectedly").model_dump())
        return
    meta = result.pop("_meta", None) if isinstance(result, dict) else None
    await _finish(ctx, job, JobStatus.SUCCEEDED, result=result, meta=meta)


def _error(exc: PlatformError) -> dict[str, Any]:
    return JobError(code=exc.code, message=exc.message, retryable=exc.retryable).model_dump()


async def _finish(
    ctx: Context, job: Job, status: JobStatus, *, result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None, meta: dict[str, Any] | None = None,
) -> None:
    fields: dict[str, Any] = {"finished_at": time.time(), "result": result, "error": error}
    if meta:
        fields["meta"] = {**job.meta, **meta}
    done = await ctx.jobs.transition(job.id, FINISH_FROM, status, fields)
    if done is None:
        log.info("job was cancelled while running; result dropped")
        return
    await job_finished(ctx, done)


async def handle_dead(ctx: Context, delivery: Delivery) -> None:
    """A message that hit the delivery limit: fail its job so nobody waits forever."""
    try:
        message = JobMessage.decode(delivery.body)
    except ValidationError:
        log.error("malformed message dead-lettered", extra={"message_id": delivery.message_id})
        return
    job_id_var.set(message.job_id)
    done = await ctx.jobs.transition(message.job_id, START_FROM, JobStatus.FAILED, {
        "finished_at": time.time(),
        "error": JobError(code="delivery_limit", message="the job crashed its worker repeatedly").model_dump(),
    })
    if done is not None:
        log.error("job dead-lettered after repeated crashes")
        await job_finished(ctx, done)
