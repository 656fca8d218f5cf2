"""The job record and its state machine.

queued -> running -> succeeded | failed | cancelled, with `retrying` between attempts.
Transitions are compare-and-set in the job store, so a redelivered message for a finished
job is skipped and no job completes twice.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class JobKind(StrEnum):
    """The built-in kinds; a job's `kind` is any kind with a registered executor
    (services/jobs/executor.py)."""

    MODEL = "model"
    CHATBOT = "chatbot"
    RAG = "rag"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
# Which states each transition may start from; the store enforces it atomically.
START_FROM = (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.RUNNING)  # RUNNING: redelivery
RETRY_FROM = (JobStatus.RUNNING,)
FINISH_FROM = (JobStatus.RUNNING,)
CANCEL_FROM = (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.RUNNING)


class JobError(BaseModel):
    code: str
    message: str
    retryable: bool = False


def new_job_id() -> str:
    return "job_" + uuid.uuid4().hex


class Job(BaseModel):
    id: str = Field(default_factory=new_job_id)
    org_id: str
    kind: str = Field(min_length=1, max_length=64)
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    queue_ms: float | None = None
    request: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: JobError | None = None
    # Free-form facts recorded by the executor: provider, model, usage, cost, cache, attempts.
    meta: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None

    def public(self) -> dict[str, Any]:
        """What the API returns: everything but the stored request body."""
        return self.model_dump(exclude={"request"}, mode="json")
