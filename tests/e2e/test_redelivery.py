"""Worker crashes and broker restarts: every job still finishes, and exactly once."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess

import pytest

from services.jobs.model import JobKind, JobStatus
from tests.backends import context, make_settings
from tests.conftest import require_env
from tests.e2e.jobs_support import completions, wait_status
from tests.e2e.processes import start_worker


async def submit(ctx, body: dict):  # type: ignore[no-untyped-def]
    return await ctx.lifecycle.submit("org-a", JobKind.MODEL, body)


def _payload(model: str) -> dict:
    return {"provider": "mock", "model": model, "messages": [{"role": "user", "content": "x"}]}


async def test_worker_killed_mid_job_redelivers_and_completes_once(unique: str, tmp_path) -> None:
    settings = make_settings("real", unique, tmp_path)
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        async with completions(ctx, settings.redis.key_prefix) as completed:
            first = start_worker(settings)
            try:
                created = await submit(ctx, _payload("mock-1500ms"))
                job_id = created.job.id
                await wait_status(ctx, job_id, JobStatus.RUNNING)
                first.send_signal(signal.SIGKILL)  # no drain, no ack: the broker must redeliver
                first.wait(10)
                second = start_worker(settings)
                try:
                    await wait_status(ctx, job_id, JobStatus.SUCCEEDED)
                    await asyncio.sleep(0.5)
                finally:
                    second.send_signal(signal.SIGTERM)
                    second.wait(20)
            finally:
                if first.poll() is None:
                    first.kill()
        job = await ctx.jobs.get(job_id)
        assert job is not None and job.status == JobStatus.SUCCEEDED
        assert job.attempts == 2  # started once by each worker
        assert job.result and job.result["content"] == "echo: x"
        assert completed.count(job_id) == 1


async def test_sigterm_drains_in_flight_jobs_before_exit(unique: str, tmp_path) -> None:
    settings = make_settings("real", unique, tmp_path)
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        worker = start_worker(settings, JOBS_DRAIN_GRACE_S="20")
        try:
            ids = [(await submit(ctx, _payload("mock-1000ms"))).job.id for _ in range(5)]
            for job_id in ids:
                await wait_status(ctx, job_id, JobStatus.RUNNING)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
        for job_id in ids:
            job = await ctx.jobs.get(job_id)
            assert job is not None and job.status == JobStatus.SUCCEEDED and job.attempts == 1


def _rabbitmqctl(*args: str) -> None:
    env = dict(os.environ)
    for pair in os.environ.get("RABBIT_CTL_ENV", "").split():
        name, _, value = pair.partition("=")
        env[name] = value
    subprocess.run(["rabbitmqctl", "-q", *args], env=env, check=True, timeout=60,
                   stdout=subprocess.DEVNULL)


async def test_rabbitmq_restart_mid_run_consumer_resumes_and_every_job_finishes(unique: str, tmp_path) -> None:
    require_env("RABBIT_CTL_ENV")
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl not installed")
    from workers.process import start_runner

    settings = make_settings("real", unique, tmp_path)
    async with context(settings) as ctx:
        stop = (await start_runner(ctx, ["model"])).stop
        try:
            before = [(await submit(ctx, _payload("mock-400ms"))).job.id for _ in range(30)]
            await asyncio.sleep(0.2)
            await asyncio.to_thread(_rabbitmqctl, "stop_app")
            await asyncio.to_thread(_rabbitmqctl, "start_app")
            assert await ctx.broker.wait_ready(30)  # type: ignore[attr-defined]
            after = []
            for _ in range(30):
                try:
                    after.append((await submit(ctx, _payload("mock-10ms"))).job.id)
                except Exception:
                    await asyncio.sleep(0.2)  # consumers are still being restored
            for job_id in before + after:
                await wait_status(ctx, job_id, JobStatus.SUCCEEDED, timeout=60)
        finally:
            await stop()
        assert len(after) >= 20
