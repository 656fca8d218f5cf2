"""Jobs starting in the same loop tick share their job-store round trips (the Redis store
sends the calls of one tick to a script as one command): each start and each finish is
still a compare-and-set of its own, so the duplicate delivery of a finished job is skipped
and every job completes exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from pydantic import BaseModel

from services.jobs.executor import Outcome, RunAttempts
from services.jobs.messages import JobMessage
from services.jobs.model import FINISH_FROM, START_FROM, Job, JobStatus
from tests.backends import BACKENDS, context, make_settings


class Count(BaseModel):
    n: int


class Counting:
    kind = "count"
    payload_model = Count

    def __init__(self) -> None:
        self.ran: Counter[str] = Counter()

    async def run(self, job: Job, payload: Count, attempts: RunAttempts) -> Outcome:
        self.ran[job.id] += 1
        await asyncio.sleep(0.01)
        return Outcome(result={"n": payload.n})


def message(job: Job) -> JobMessage:
    return JobMessage(job_id=job.id, org_id=job.org_id, kind=job.kind)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_starts_of_one_tick_skip_finished_jobs_and_complete_each_job_once(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    executor = Counting()
    completed: Counter[str] = Counter()

    async def count_completion(job: Job) -> None:
        completed[job.id] += 1

    async with context(make_settings(backend, unique, tmp_path)) as ctx:
        ctx.executors.register(executor)
        ctx.lifecycle.listeners.add(count_completion)
        submit = ctx.lifecycle.submit
        finished = [(await submit("org-a", "count", {"n": i}, publish=False)).job for i in range(10)]
        await asyncio.gather(*(ctx.lifecycle.run_message(message(j), redelivered=False) for j in finished))
        fresh = [(await submit("org-a", "count", {"n": i}, publish=False)).job for i in range(40)]
        # In one tick: 40 jobs start, every finished one is delivered again, and one of the
        # new ones twice (a duplicate publish).
        deliveries = [*fresh, *finished, fresh[0]]
        await asyncio.gather(*(ctx.lifecycle.run_message(message(j), redelivered=False) for j in deliveries))
        records = [await ctx.jobs.get(j.id) for j in [*finished, *fresh]]
    assert all(r is not None and r.status is JobStatus.SUCCEEDED and r.started_at and r.finished_at
               for r in records)
    assert all(executor.ran[j.id] == 1 for j in [*finished, *fresh[1:]])
    assert completed == Counter({j.id: 1 for j in [*finished, *fresh]})


@pytest.mark.parametrize("backend", BACKENDS)
async def test_concurrent_transitions_of_one_job_let_exactly_one_win(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    async with context(make_settings(backend, unique, tmp_path)) as ctx:
        job = Job(org_id="org-a", kind="model", request={"messages": []})
        await ctx.jobs.create(job)
        assert await ctx.jobs.transition(job.id, START_FROM, JobStatus.RUNNING, count_attempt=True)
        # 20 finishes in one tick (one command on Redis): one compare-and-set wins.
        outcomes = await asyncio.gather(*(
            ctx.jobs.transition(job.id, FINISH_FROM, JobStatus.SUCCEEDED, {"result": {"n": i}})
            for i in range(20)))
        winners = [o for o in outcomes if o is not None]
        final = await ctx.jobs.get(job.id)
    assert len(winners) == 1
    assert final is not None and final.result == winners[0].result and final.attempts == 1
