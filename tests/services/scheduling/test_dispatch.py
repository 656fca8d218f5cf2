"""Dispatch rounds: one broker call publishes a round's jobs, a failed publish puts back
only its own job, and a dispatch loop keeps publishing while earlier rounds await their
confirms, so every held job reaches a worker."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.broker.base import OutgoingMessage
from services.errors import Unavailable
from services.jobs.model import JobKind, JobStatus
from tests.backends import BACKENDS, context, make_settings
from tests.e2e.jobs_support import wait_status
from workers.process import start_runner


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_round_puts_back_only_the_jobs_whose_publish_failed(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    async with context(make_settings(backend, unique, tmp_path)) as ctx:
        await ctx.broker.declare(["jobs.model"])
        for i in range(6):
            await ctx.scheduler.queue.push(JobKind.MODEL, "org-a", 1, f"job_{i}", 1.0)
        publish_each = ctx.broker.publish_each
        calls: list[list[str]] = []

        async def refuse_job_2(queue: str, messages: Sequence[OutgoingMessage]) -> list[Unavailable | None]:
            calls.append([m.message_id for m in messages])
            kept = [m for m in messages if m.message_id != "job_2"]
            outcomes = iter(await publish_each(queue, kept))
            return [Unavailable("refused") if m.message_id == "job_2" else next(outcomes) for m in messages]

        ctx.broker.publish_each = refuse_job_2  # type: ignore[method-assign]
        assert await ctx.scheduler.dispatch(JobKind.MODEL) == 5
        assert len(calls) == 1 and len(calls[0]) == 6  # the whole round in one broker call
        assert await ctx.scheduler.queue.backlog(JobKind.MODEL) == 1
        # The five published ones were confirmed: no claim is left for a sweeper.
        assert await ctx.scheduler.queue.sweep(JobKind.MODEL, owner="probe", now=time.time() + 60,
                                               lease_s=1, limit=100) == []
        ctx.broker.publish_each = publish_each  # type: ignore[method-assign]
        assert await ctx.scheduler.dispatch(JobKind.MODEL) == 1
        assert await ctx.scheduler.queue.backlog(JobKind.MODEL) == 0


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_dispatch_loop_moves_every_held_job_a_few_ahead_at_a_time(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    base = make_settings(backend, unique, tmp_path)
    settings = base.model_copy(update={"scheduling": base.scheduling.model_copy(update={"dispatch_ahead": 3})})
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        payload = {"provider": "mock", "model": "mock-0ms", "messages": [{"role": "user", "content": "x"}]}
        ids = [(await ctx.lifecycle.submit("org-a", JobKind.MODEL, payload)).job.id for _ in range(30)]
        assert await ctx.scheduler.queue.backlog(JobKind.MODEL) > 0  # held beyond the 3 ahead
        runner = await start_runner(ctx, ["model"])
        try:
            for job_id in ids:
                await wait_status(ctx, job_id, JobStatus.SUCCEEDED, timeout=60)
        finally:
            await runner.stop()
            await ctx.scheduler.close()
        assert await ctx.scheduler.queue.backlog(JobKind.MODEL) == 0
