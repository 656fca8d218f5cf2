"""Redis restarted mid-run (with AOF, as production and scripts/services.sh run it), and Redis
losing its data: no job is lost, no signing secret changes."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from config import RedisSettings, Settings
from services.jobs.model import JobStatus
from tests.backends import context, make_settings, new_key
from workers.process import start_runner

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private redis-server with AOF in a temporary directory, stopped with SHUTDOWN."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if self.cli("ping") == "PONG":
                return
            subprocess.run(["sleep", "0.05"], check=False)
        raise AssertionError("redis-server did not start")

    def cli(self, *args: str) -> str:
        done = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        return done.stdout.strip()

    def shutdown(self) -> None:
        self.cli("shutdown")  # fsyncs the AOF, as a clean restart in production does
        assert self.proc is not None
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.dir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def settings_on(redis: RedisServer, unique: str, tmp_path: Path) -> Settings:
    base = make_settings("real", unique, tmp_path / "data")
    return base.model_copy(update={"redis": RedisSettings(url=redis.url, key_prefix=f"t{unique}:")})


async def until_terminal(client: httpx.AsyncClient, headers: dict[str, str], ids: list[str]) -> dict[str, str]:
    statuses: dict[str, str] = {}
    for _ in range(1200):  # a liveness bound (60 s), not a timing claim
        for job_id in ids:
            if statuses.get(job_id) in ("succeeded", "failed", "cancelled"):
                continue
            got = await client.get(f"/api/v1/jobs/{job_id}", headers=headers)
            if got.status_code == 200:
                statuses[job_id] = got.json()["status"]
        if all(JobStatus(s).terminal for s in statuses.values()) and len(statuses) == len(ids):
            return statuses
        await asyncio.sleep(0.05)
    return statuses


async def test_a_redis_restart_loses_no_job_and_changes_no_secret(
    redis_server: RedisServer, unique: str, tmp_path: Path,
) -> None:
    settings = settings_on(redis_server, unique, tmp_path)
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        runner = await start_runner(ctx, ["model"])
        transport = httpx.ASGITransport(app=create_app(settings, ctx=ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            org = await new_key(ctx, "org-a")
            secret = (await client.get("/api/v1/webhooks/secret", headers=org)).json()["secret"]
            ids = []
            for i in range(20):
                body = {"kind": "model", "payload": {"model": "mock-300ms",
                                                      "messages": [{"role": "user", "content": f"job {i}"}]}}
                created = await client.post("/api/v1/jobs", json=body, headers=org)
                assert created.status_code == 202, created.text
                ids.append(created.json()["id"])
            redis_server.shutdown()
            redis_server.start()
            statuses = await until_terminal(client, org, ids)
            assert statuses == {job_id: "succeeded" for job_id in ids}
            assert (await client.get("/api/v1/webhooks/secret", headers=org)).json()["secret"] == secret
            await runner.stop()


async def test_redis_losing_its_data_changes_no_secret_and_says_what_happened(
    redis_server: RedisServer, unique: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_on(redis_server, unique, tmp_path)
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        runner = await start_runner(ctx, ["model"])
        transport = httpx.ASGITransport(app=create_app(settings, ctx=ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            org = await new_key(ctx, "org-a")
            secret = (await client.get("/api/v1/webhooks/secret", headers=org)).json()["secret"]
            endpoint = await client.post("/api/v1/webhooks/endpoints", headers=org,
                                         json={"url": "https://93.184.215.14/hook"})
            assert endpoint.status_code == 201
            body = {"kind": "model", "payload": {"model": "mock-1500ms",
                                                  "messages": [{"role": "user", "content": "lost"}]}}
            job_id = (await client.post("/api/v1/jobs", json=body, headers=org)).json()["id"]
            for _ in range(400):
                job = await ctx.jobs.get(job_id)
                if job is not None and job.status == JobStatus.RUNNING:
                    break
                await asyncio.sleep(0.05)
            with caplog.at_level(logging.ERROR, logger="services.jobs.lifecycle"):
                redis_server.cli("flushall")  # the data is gone, as after a restart without AOF
                for _ in range(400):
                    if "vanished" in caplog.text:
                        break
                    await asyncio.sleep(0.05)
            assert "record vanished from the job store" in caplog.text
            assert "not cancelled" in caplog.text and "cancelled while running" not in caplog.text
            assert (await client.get("/api/v1/webhooks/secret", headers=org)).json()["secret"] == secret
            listed = (await client.get("/api/v1/webhooks/endpoints", headers=org)).json()
            assert [e["id"] for e in listed["data"]] == [endpoint.json()["id"]]
            await runner.stop()
