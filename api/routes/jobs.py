"""Jobs: submit, read, list, cancel; `?wait=` / `Prefer: wait=N` hold the request open."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CtxDep, OrgDep
from api.responses import Json
from api.routes.governor import GateDep
from services.errors import Invalid
from services.jobs.model import Job, JobError, JobKind, JobStatus

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+(?:\.\d+)?)")
IDEMPOTENCY_KEY_MAX = 255


class JobSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    kind: str = Field(min_length=1, max_length=64, description="model, chatbot, rag, or another registered kind")
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: Literal["high", "normal", "low"] = Field(
        default="normal", description="order among the org's own queued jobs")
    max_queue_s: float | None = Field(
        default=None, gt=0, le=7 * 24 * 3600,
        description="longest wait to start (provider capacity, fair share); then `queue_timeout`")

    def scheduling(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"priority": self.priority}
        if self.max_queue_s is not None:
            meta["max_queue_s"] = self.max_queue_s
        return meta


class JobView(BaseModel):
    """A job as the API shows it (the stored request body is never returned)."""

    id: str
    org_id: str
    kind: str
    status: JobStatus
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    queue_ms: float | None
    result: dict[str, Any] | None
    error: JobError | None
    meta: dict[str, Any]
    idempotency_key: str | None
    links: dict[str, str] | None = None


class JobPage(BaseModel):
    data: list[JobView]
    next_cursor: str | None


# 200 once the job has ended (?wait), 202 while it runs: the same body either way.
_JOB = {"model": JobView, "description": "The job"}


def _links(job_id: str) -> dict[str, str]:
    base = f"/api/v1/jobs/{job_id}"
    return {"self": base, "cancel": f"{base}/cancel", "events": f"{base}/events"}


def _answer(job: Job, *, replayed: bool = False, queue: dict[str, Any] | None = None) -> Json:
    body = {**job.public(), "links": _links(job.id)}
    if queue is not None:
        body["queue"] = queue
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if not job.status.terminal:
        headers["Location"] = f"/api/v1/jobs/{job.id}"
    return Json(body, status_code=200 if job.status.terminal else 202, headers=headers)


def _wait_seconds(ctx: CtxDep, wait: float | None, prefer: str | None) -> float:
    if wait is None and prefer:
        found = _PREFER_WAIT.search(prefer)
        wait = float(found.group(1)) if found else None
    if wait is None:
        return 0.0
    if wait < 0:
        raise Invalid("wait must be zero or more seconds", field="wait")
    return min(wait, ctx.settings.jobs.max_wait_s)


WaitQuery = Annotated[float | None, Query(description="seconds to hold the request until the job ends")]
PreferHeader = Annotated[str | None, Header(alias="Prefer")]


@router.post("", status_code=202, response_model=JobView, responses={
    200: {**_JOB, "description": "The job has ended (?wait)"},
    409: {"description": "Idempotency-Key used with a different body"}})
async def submit_job(
    request: Request, body: JobSubmit, ctx: CtxDep, org_id: OrgDep, gate: GateDep,
    wait: WaitQuery = None, prefer: PreferHeader = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=IDEMPOTENCY_KEY_MAX)] = None,
) -> Json:
    """Accept a job: 202 with its id once it is recorded and the broker confirmed it."""
    wait_s = _wait_seconds(ctx, wait, prefer)
    if body.kind == JobKind.CHATBOT:
        raise Invalid("a chatbot turn belongs to a thread: send it to POST /api/v1/chatbot/{bridge}/messages "
                      "(or /api/v2/model/chat/completion with thread_id)", field="kind")
    payload = ctx.lifecycle.parse(body.kind, body.payload)
    await gate.admit(payload.model_dump(mode="json", exclude_none=True))
    try:
        created = await ctx.lifecycle.submit(org_id, body.kind, payload, idempotency_key=idempotency_key,
                                             meta={**gate.job_meta(), **body.scheduling()})
    except BaseException:
        await gate.settle(None)
        raise
    await gate.queued(created.job.id, created.created)
    job = created.job
    if wait_s > 0 and not job.status.terminal:
        job = await ctx.lifecycle.get(org_id, job.id, wait_s=wait_s)
    return gate.answer(_answer(job, replayed=not created.created))


@router.get("/{job_id}", response_model=JobView, responses={
    202: {**_JOB, "description": "The job has not ended yet (?wait timed out)"}})
async def get_job(job_id: str, ctx: CtxDep, org_id: OrgDep, wait: WaitQuery = None,
                  prefer: PreferHeader = None) -> Json:
    job = await ctx.lifecycle.get(org_id, job_id, wait_s=_wait_seconds(ctx, wait, prefer))
    # While it waits: position estimate, why (capacity, fair_share, priority, worker), expected start.
    return _answer(job, queue=await ctx.scheduler.describe(job))


@router.get("", response_model=JobPage)
async def list_jobs(
    ctx: CtxDep, org_id: OrgDep, status: JobStatus | None = None, kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None,
) -> dict[str, Any]:
    if cursor is not None and not re.fullmatch(r"\d+(\.\d+)?:[\w-]+", cursor):
        raise Invalid("malformed cursor", field="cursor")
    page = await ctx.lifecycle.list_jobs(org_id, status=status, kind=kind, limit=limit, cursor=cursor)
    return {"data": [j.public() for j in page.jobs], "next_cursor": page.next_cursor}


@router.post("/{job_id}/cancel", response_model=JobView,
             responses={409: {"description": "The job has already ended"}})
async def cancel_job(job_id: str, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    job = await ctx.lifecycle.cancel(org_id, job_id)
    return job.public()
