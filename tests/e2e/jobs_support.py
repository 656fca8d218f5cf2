"""Watching jobs from an e2e test: a record reaching a status, and the completion events
the job store publishes (to count that each job completed exactly once)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from services.jobs.model import JobStatus


async def wait_status(ctx: Any, job_id: str, status: JobStatus, timeout: float = 30) -> None:
    job = None
    for _ in range(int(timeout / 0.05)):
        job = await ctx.jobs.get(job_id)
        if job is not None and job.status == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {status}: {job}")


async def work_until(ctx: Any, job_ids: list[str], status: JobStatus = JobStatus.SUCCEEDED,
                     timeout: float = 60) -> None:
    """An in-process worker of the model pool (with its dispatch loop) runs until every job
    reached `status`; then it drains and the dispatch stops."""
    from workers.process import start_runner

    runner = await start_runner(ctx, ["model"])
    try:
        for job_id in job_ids:
            await wait_status(ctx, job_id, status, timeout=timeout)
    finally:
        await runner.stop()
        await ctx.scheduler.close()


@contextlib.asynccontextmanager
async def completions(ctx: Any, channel_prefix: str) -> AsyncIterator[list[str]]:
    """The ids of the jobs completed while inside, in order, repeats included."""
    seen: list[str] = []
    subscribed = asyncio.Event()

    async def listen() -> None:
        pubsub = ctx.redis.pubsub()
        await pubsub.subscribe(f"{channel_prefix}jobs:done")
        subscribed.set()
        async for message in pubsub.listen():
            if message["type"] == "message":
                seen.append(message["data"].decode())

    task = asyncio.create_task(listen())
    await subscribed.wait()
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
