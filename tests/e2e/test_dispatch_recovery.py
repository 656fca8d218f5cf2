"""A dispatcher that dies between taking jobs from the fair-share lists and RabbitMQ's
confirm loses none: another dispatcher's sweep publishes them again, each completes once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from services.broker.queues import job_queue
from services.jobs.messages import JobMessage
from services.jobs.model import Job, JobKind, JobStatus
from tests.backends import context, make_settings
from tests.e2e.jobs_support import completions, wait_status
from workers.process import start_runner

JOBS = 20
# Of those the dead dispatcher took, it published these before dying (never confirmed).
PUBLISHED = 5


async def test_jobs_taken_by_a_dispatcher_that_died_before_publishing_complete_exactly_once(
    unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHEDULING_CLAIM_LEASE_S", "1")
    monkeypatch.setenv("SCHEDULING_SWEEP_INTERVAL_S", "0.2")
    settings = make_settings("real", unique, tmp_path)
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        async with completions(ctx, settings.redis.key_prefix) as completed:
            ids = []
            for i in range(JOBS):
                job = Job(org_id="org-a", kind=JobKind.MODEL, request={
                    "provider": "mock", "model": "mock-0ms", "messages": [{"role": "user", "content": f"job {i}"}]})
                await ctx.jobs.create(job)
                await ctx.scheduler.queue.push(JobKind.MODEL, "org-a", 1, job.id, 1.0)
                ids.append(job.id)
            # The doomed dispatcher: its round takes every job, publishes a few, then the process
            # is gone (no confirm, no restore).
            taken = await ctx.scheduler.queue.pick(JobKind.MODEL, owner="dead-dispatcher", now=time.time(),
                                                   ahead=100, stale_s=300, limit=100)
            assert sorted(p.job_id for p in taken) == sorted(ids)
            for p in taken[:PUBLISHED]:
                await ctx.broker.publish(job_queue(JobKind.MODEL),
                                         JobMessage(job_id=p.job_id, org_id="org-a", kind=JobKind.MODEL).outgoing())
            assert await ctx.scheduler.queue.backlog(JobKind.MODEL) == 0  # nothing left to dispatch normally
            runner = await start_runner(ctx, ["model"])  # another dispatcher (and the workers)
            try:
                for job_id in ids:
                    await wait_status(ctx, job_id, JobStatus.SUCCEEDED)
                await asyncio.sleep(0.5)  # a second completion, if any, would be published by now
            finally:
                await runner.stop()
                await ctx.scheduler.close()
        jobs = [await ctx.jobs.get(i) for i in ids]
        assert all(j is not None and j.attempts == 1 for j in jobs)
        assert sorted(completed) == sorted(ids)
        # The swept claims were published and confirmed: none is left to sweep again.
        assert await ctx.scheduler.queue.sweep(JobKind.MODEL, owner="probe", now=time.time() + 60,
                                               lease_s=1, limit=100) == []
