"""Starts real `python index.py ...` processes for tests that kill or signal them, or that
need a second OS process (the Mongo stores then share data through the wire front)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import aio_pika

from config import Settings

ROOT = Path(__file__).resolve().parents[2]


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBIT_", "REDIS_", "JOBS_", "MONGO_"))}
    env.update({
        "QUEUE_CONNECTIONURL": settings.rabbit.url or "",
        "REDIS_URI": settings.redis.url or "",
        "RABBIT_QUEUE_PREFIX": settings.rabbit.queue_prefix,
        "REDIS_KEY_PREFIX": settings.redis.key_prefix,
        "APP_DATA_DIR": settings.app.data_dir,
        # The test's Mongo (the wire front or a real server), or none: never the developer's.
        "MONGODB_CONNECTION_URI": settings.mongo.url or "",
        "MONGO_DATABASE": settings.mongo.database,
        "PYTHONPATH": str(ROOT),
        **extra,
    })
    return env


def start_worker(
    settings: Settings, pool: str = "model", *, stderr: IO[bytes] | int = subprocess.PIPE, **extra: str,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "index.py"), "worker", "--pool", pool],
        env=env_for(settings, **extra), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=stderr,
    )


async def wait_for_consumers(
    settings: Settings, queue: str, count: int, procs: list[subprocess.Popen[bytes]], timeout_s: float = 180,
) -> None:
    """Until `count` consumers listen on `queue` (the test's prefix added). Generous: on the
    shared 2-core machine under a full test run a worker's start-up took > 30 s."""
    assert settings.rabbit.url
    connection = await aio_pika.connect(settings.rabbit.url)
    try:
        channel = await connection.channel()
        deadline = time.monotonic() + timeout_s
        while True:
            declared = await channel.declare_queue(settings.rabbit.queue_prefix + queue, passive=True)
            if (declared.declaration_result.consumer_count or 0) >= count:
                return
            assert all(p.poll() is None for p in procs), "a worker process exited during start-up"
            assert time.monotonic() < deadline, f"{count} consumers not on {queue} within {timeout_s} s"
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


def stop_all(procs: list[subprocess.Popen[bytes]], grace_s: float = 30) -> None:
    """SIGTERM each process we started, then SIGKILL any still running after `grace_s`."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
