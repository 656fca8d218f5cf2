"""Embedded job store: dicts with expiry and asyncio events, for one process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from config import Settings
from services.jobs.codec import cursor_decode, cursor_encode
from services.jobs.model import Job, JobStatus
from services.jobs.store import Created, Page


class MemoryJobStore:
    def __init__(self, settings: Settings) -> None:
        self._retention_s = settings.jobs.retention_s
        self._jobs: dict[str, tuple[float, Job]] = {}
        self._idem: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._waiters: dict[str, list[asyncio.Event]] = {}

    def _live(self, job_id: str) -> Job | None:
        entry = self._jobs.get(job_id)
        if entry is None:
            return None
        expires, job = entry
        if expires < time.time():
            del self._jobs[job_id]
            return None
        return job

    async def create(self, job: Job, *, body_hash: str | None = None) -> Created:
        if job.idempotency_key:
            seen = self._idem.get((job.org_id, job.idempotency_key))
            if seen and (existing := self._live(seen[0])):
                return Created(existing.model_copy(deep=True), created=False,
                               conflict=seen[1] != body_hash)
            self._idem[(job.org_id, job.idempotency_key)] = (job.id, body_hash)
        self._jobs[job.id] = (time.time() + self._retention_s, job.model_copy(deep=True))
        return Created(job, created=True)

    async def get(self, job_id: str) -> Job | None:
        job = self._live(job_id)
        return job.model_copy(deep=True) if job else None

    async def transition(
        self, job_id: str, allowed: Sequence[JobStatus], to: JobStatus,
        fields: dict[str, Any] | None = None, *, count_attempt: bool = False,
    ) -> Job | None:
        job = self._live(job_id)
        if job is None or job.status not in allowed:
            return None
        # Validate the merged record before storing, as the Redis adapter's decode would.
        updated = Job.model_validate({**job.model_dump(), **(fields or {}), "status": to})
        if count_attempt:
            updated.attempts += 1
        self._jobs[job_id] = (self._jobs[job_id][0], updated)
        if to.terminal:
            for event in self._waiters.pop(job_id, []):
                event.set()
        return updated.model_copy(deep=True)

    async def update_meta(self, job_id: str, meta: dict[str, Any]) -> None:
        job = self._live(job_id)
        if job is not None:
            job.meta.update(meta)

    async def release_idempotency(self, org_id: str, key: str) -> None:
        self._idem.pop((org_id, key), None)

    async def list(
        self, org_id: str, *, status: JobStatus | None = None, kind: str | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> Page:
        after = cursor_decode(cursor) if cursor else None
        jobs = sorted(
            (j for _, j in self._jobs.values() if j.org_id == org_id),
            key=lambda j: (j.created_at, j.id), reverse=True,
        )
        page: list[Job] = []
        for job in jobs:
            if after and (job.created_at, job.id) >= after:
                continue
            if (status and job.status != status) or (kind and job.kind != kind):
                continue
            page.append(job.model_copy(deep=True))
            if len(page) == limit:
                break
        more = len(page) == limit
        return Page(page, cursor_encode(page[-1].created_at, page[-1].id) if more else None)

    async def wait(self, job_id: str, timeout_s: float) -> Job | None:
        job = self._live(job_id)
        if job is None or job.status.terminal or timeout_s <= 0:
            return await self.get(job_id)
        event = asyncio.Event()
        self._waiters.setdefault(job_id, []).append(event)
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            waiters = self._waiters.get(job_id, [])
            if event in waiters:
                waiters.remove(event)
        return await self.get(job_id)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
