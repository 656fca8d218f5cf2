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
from services.jobs.messages import decode_jobs
from services.jobs.model import JobKind
from tests.backends import BACKENDS, context, make_settings
from tests.e2e.jobs_support import work_until


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_round_puts_back_only_the_jobs_whose_publish_failed(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    base = make_settings(backend, unique, tmp_path)
    settings = base.model_copy(update={"scheduling": base.scheduling.model_copy(update={"dispatch_pack": 2})})
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        for i in range(6):
            await ctx.scheduler.queue.push(JobKind.MODEL, "org-a", 1, f"job_{i}", 1.0)
        publish_each = ctx.broker.publish_each
        calls: list[list[list[str]]] = []

        def carried(message: OutgoingMessage) -> list[str]:
            return [m.job_id for m in decode_jobs(message.body)]

        async def refuse_job_2(queue: str, messages: Sequence[OutgoingMessage]) -> list[Unavailable | None]:
            calls.append([carried(m) for m in messages])
            kept = [m for m in messages if "job_2" not in carried(m)]
            outcomes = iter(await publish_each(queue, kept))
            return [Unavailable("refused") if "job_2" in carried(m) else next(outcomes) for m in messages]

        ctx.broker.publish_each = refuse_job_2  # type: ignore[method-assign]
        assert await ctx.scheduler.dispatch(JobKind.MODEL) == 4
        # The whole round in one broker call, two jobs a message; job_2's pack-mate goes back too.
        assert calls == [[["job_0", "job_1"], ["job_2", "job_3"], ["job_4", "job_5"]]]
        assert await ctx.scheduler.queue.backlog(JobKind.MODEL) == 2
        # The four published ones were confirmed: no claim is left for a sweeper.
        assert await ctx.scheduler.queue.sweep(JobKind.MODEL, owner="probe", now=time.time() + 60,
                                               lease_s=1, limit=100) == []
        ctx.broker.publish_each = publish_each  # type: ignore[method-assign]
        assert await ctx.scheduler.dispatch(JobKind.MODEL) == 2
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
        await work_until(ctx, ids, timeout=60)
        assert await ctx.scheduler.queue.backlog(JobKind.MODEL) == 0
