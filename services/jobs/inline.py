"""The inline side of the job lifecycle: the job is recorded as running, its executor runs
in the calling process (an API request held open, sync or streamed), and it finishes
through `JobLifecycle._finish` like a queued job, with its metric row and webhooks.

`InlineRuns` is a base of `JobLifecycle` (services/jobs/lifecycle.py); it is split out only
to keep each file readable, and uses the lifecycle's own checks and finish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any, Protocol

from pydantic import BaseModel

from config import JobSettings
from services.errors import Deferred, Invalid, PlatformError, Unavailable
from services.jobs.executor import Executor, Outcome, RunAttempts, StreamEvent, StreamingExecutor
from services.jobs.guard import GuardedRun
from services.jobs.model import Job, JobError, JobStatus
from services.jobs.store import JobStore


def error_of(exc: PlatformError) -> dict[str, Any]:
    """A failed job's `error` field."""
    return JobError(code=exc.code, message=exc.message, retryable=exc.retryable).model_dump()


class _Lifecycle(Protocol):
    """What the inline side uses of `JobLifecycle`."""

    store: JobStore
    settings: JobSettings

    def executor(self, kind: str) -> Executor: ...

    def _check(self, kind: str, payload: BaseModel) -> None: ...

    async def _guarded(self, org_id: str, kind: str, meta: dict[str, Any]) -> GuardedRun | None: ...

    async def _finish(
        self, job: Job, status: JobStatus, *, outcome: Outcome | None = None,
        error: dict[str, Any] | None = None, attempts: RunAttempts, guarded: GuardedRun | None = None,
    ) -> Job: ...

    async def _start_inline(
        self, org_id: str, kind: str, payload: BaseModel, meta: dict[str, Any],
    ) -> tuple[Job, GuardedRun | None]: ...

    async def _wait_inline(self, job: Job, exc: Deferred) -> None: ...


class InlineRuns:
    __slots__ = ()

    async def _start_inline(
        self: _Lifecycle, org_id: str, kind: str, payload: BaseModel, meta: dict[str, Any],
    ) -> tuple[Job, GuardedRun | None]:
        """Record the running job; a refused request (block list) raises before any record."""
        self._check(kind, payload)
        guarded = await self._guarded(org_id, kind, meta)
        if guarded is not None:
            guarded.check(payload)
        request = payload.model_dump(mode="json", exclude_none=True)
        now = time.time()
        job = Job(
            org_id=org_id, kind=kind, status=JobStatus.RUNNING, attempts=1, created_at=now,
            started_at=now, queue_ms=0.0, meta={**meta, "mode": "inline"},
            request=guarded.record_request(request) if guarded is not None else request,
        )
        await self.store.create(job)
        return job, guarded

    async def run_inline(self: _Lifecycle, org_id: str, kind: str, payload: BaseModel, meta: dict[str, Any]) -> Job:
        """Run in this process to the final answer; the finished job is returned, a failure raised."""
        executor = self.executor(kind)
        job, guarded = await self._start_inline(org_id, kind, payload, meta)
        attempts = RunAttempts()
        try:
            if guarded is not None:
                payload = await guarded.before_run(job, payload, attempts)
            while True:
                try:
                    outcome = await executor.run(job, payload, attempts)
                    break
                except Deferred as exc:
                    await self._wait_inline(job, exc)
        except PlatformError as exc:
            await self._finish(job, JobStatus.FAILED, error=error_of(exc), attempts=attempts, guarded=guarded)
            raise
        return await self._finish(job, JobStatus.SUCCEEDED, outcome=outcome, attempts=attempts, guarded=guarded)

    async def _wait_inline(self: _Lifecycle, job: Job, exc: Deferred) -> None:
        """An inline run that is not ready waits here: the caller holds the request open
        anyway. Past the job's deadline it fails with `queue_timeout`."""
        delay = max(0.01, exc.retry_after_s or 0.5)
        if time.time() + delay > job.created_at + self.settings.deadline_s:
            raise Unavailable(f"waited too long: {exc.message}", code="queue_timeout",
                              retry_after_s=delay) from exc
        await asyncio.sleep(delay)

    async def stream_inline(
        self: _Lifecycle, org_id: str, kind: str, payload: BaseModel, meta: dict[str, Any],
    ) -> AsyncGenerator[tuple[Job, StreamEvent], None]:
        """Yield (job, event) as the model writes; the job is finished with the `done` event,
        failed on an error, and cancelled when the caller stops reading (client gone)."""
        executor = self.executor(kind)
        if not isinstance(executor, StreamingExecutor):
            raise Invalid(f"jobs of kind {kind!r} cannot stream", field="stream")
        job, guarded = await self._start_inline(org_id, kind, payload, meta)
        attempts = RunAttempts()
        finished = started = False
        try:
            if guarded is not None:
                payload = await guarded.before_run(job, payload, attempts)
            while not finished:
                try:
                    async for event in executor.stream(job, payload, attempts):
                        started = True
                        if event.outcome is not None:
                            finished = True
                            job = await self._finish(job, JobStatus.SUCCEEDED, outcome=event.outcome,
                                                     attempts=attempts, guarded=guarded)
                        yield job, event
                except Deferred as exc:
                    if started:
                        raise
                    await self._wait_inline(job, exc)
                    continue
                if not finished:
                    raise RuntimeError("the stream ended without its outcome")
        except PlatformError as exc:
            finished = True
            await self._finish(job, JobStatus.FAILED, error=error_of(exc), attempts=attempts, guarded=guarded)
            raise
        finally:
            if not finished:
                await self._finish(job, JobStatus.CANCELLED, attempts=attempts, guarded=guarded)
