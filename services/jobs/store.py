"""The job store port: job records, atomic transitions, idempotency and completion waits.

Adapters: `memory_store.MemoryJobStore` (dicts with TTL, asyncio events) and
`redis_store.RedisJobStore` (a hash per job, Lua compare-and-set, pub/sub to wake waiters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.jobs.model import Job, JobStatus


@dataclass(slots=True)
class Created:
    job: Job
    # False when an Idempotency-Key matched an earlier submission: `job` is that one.
    created: bool
    # Set when the key matched but the body did not.
    conflict: bool = False


@dataclass(slots=True)
class Page:
    jobs: list[Job]
    next_cursor: str | None


class JobStore(Protocol):
    async def create(self, job: Job, *, body_hash: str | None = None) -> Created:
        """Record a new job; with job.idempotency_key, dedupe on (org, key)."""

    async def get(self, job_id: str) -> Job | None: ...

    async def transition(
        self,
        job_id: str,
        allowed: Sequence[JobStatus],
        to: JobStatus,
        fields: dict[str, Any] | None = None,
        *,
        count_attempt: bool = False,
    ) -> Job | None:
        """Atomically move the job to `to` if its status is in `allowed`.

        `fields` are written with it; returns the new job, or None when the status did not
        match (or the job is gone). Terminal transitions wake every waiter.
        """

    async def update_meta(self, job_id: str, meta: dict[str, Any]) -> None:
        """Merge facts into job.meta without touching the status."""

    async def release_idempotency(self, org_id: str, key: str) -> None: ...

    async def list(
        self, org_id: str, *, status: JobStatus | None = None, kind: str | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> Page: ...

    async def wait(self, job_id: str, timeout_s: float) -> Job | None:
        """Return the job once terminal, or its current state when the timeout runs out."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
