"""A real `index.py worker` process dispatches the jobs held for fair sharing: submits move
at most SCHEDULING_DISPATCH_AHEAD jobs to RabbitMQ, the rest reach it only through a
worker's dispatch loop."""

from __future__ import annotations

from pathlib import Path

from services.jobs.model import JobKind, JobStatus
from tests.backends import context, make_settings
from tests.e2e.jobs_support import wait_status
from tests.e2e.processes import start_worker, stop_all

AHEAD = 5


async def test_a_worker_process_dispatches_every_held_job(unique: str, tmp_path: Path) -> None:
    base = make_settings("real", unique, tmp_path)
    settings = base.model_copy(update={"scheduling": base.scheduling.model_copy(update={"dispatch_ahead": AHEAD})})
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        payload = {"provider": "mock", "model": "mock-0ms", "messages": [{"role": "user", "content": "x"}]}
        ids = [(await ctx.lifecycle.submit("org-a", JobKind.MODEL, payload)).job.id for _ in range(6 * AHEAD)]
        worker = start_worker(settings, SCHEDULING_DISPATCH_AHEAD=str(AHEAD))
        try:
            for job_id in ids:
                await wait_status(ctx, job_id, JobStatus.SUCCEEDED, timeout=120)
        finally:
            stop_all([worker])
