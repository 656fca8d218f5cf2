"""An executor that is not ready to run a job yet (Deferred) sends it back to the queue:
the job waits as `queued` with its reason, runs again later, and the wait is no attempt."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel

from services.errors import Deferred
from services.jobs.executor import Outcome, RunAttempts
from services.jobs.model import Job, JobStatus
from tests.backends import BACKENDS, context, make_settings
from workers.process import start_runner


class Turn(BaseModel):
    waits: int
    delay_s: float = 0.05


class WaitsItsTurn:
    kind = "turn"
    payload_model = Turn

    def __init__(self) -> None:
        self.seen: list[tuple[int, str | None]] = []

    async def run(self, job: Job, payload: Turn, attempts: RunAttempts) -> Outcome:
        waiting = job.meta.get("waiting")
        self.seen.append((job.attempts, waiting["reason"] if waiting else None))
        if len(self.seen) <= payload.waits:
            raise Deferred("an earlier turn is running", reason="thread_order", retry_after_s=payload.delay_s)
        return Outcome(result={"ran_after": len(self.seen) - 1})


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_deferred_job_waits_queued_and_runs_later_without_spending_attempts(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    executor = WaitsItsTurn()
    async with context(make_settings(backend, unique, tmp_path, max_attempts=2)) as ctx:
        ctx.executors.register(executor)
        runner = await start_runner(ctx, ["turn"])
        try:
            created = await ctx.lifecycle.submit("org-a", "turn", {"waits": 3})
            done = await ctx.lifecycle.get("org-a", created.job.id, wait_s=20)
        finally:
            await runner.stop()
    # Three deferrals with max_attempts=2: had they counted, the job would have failed.
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.result == {"ran_after": 3} and done.attempts == 1
    assert [a for a, _ in executor.seen] == [1, 1, 1, 1]
    assert [r for _, r in executor.seen] == [None, "thread_order", "thread_order", "thread_order"]
    assert "waiting" not in done.meta


async def test_a_waiting_job_shows_why(unique: str, tmp_path: Path) -> None:
    executor = WaitsItsTurn()
    async with context(make_settings("embedded", unique, tmp_path)) as ctx:
        ctx.executors.register(executor)
        runner = await start_runner(ctx, ["turn"])
        try:
            created = await ctx.lifecycle.submit("org-a", "turn", {"waits": 1000, "delay_s": 30})
            async with asyncio.timeout(10):
                while not (job := await ctx.lifecycle.get("org-a", created.job.id)).meta.get("waiting"):
                    await asyncio.sleep(0.02)
            assert job.status is JobStatus.QUEUED
            assert job.meta["waiting"]["reason"] == "thread_order"
            await ctx.lifecycle.cancel("org-a", created.job.id)
        finally:
            await runner.stop()
