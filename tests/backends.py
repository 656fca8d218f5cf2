"""Builds settings and Contexts on the embedded or the real backends for tests.

Real backends get a unique queue prefix and key prefix per test, so tests never see each
other's messages or records even when they share one RabbitMQ and one Redis.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from config import (
    AppSettings,
    JobSettings,
    MongoSettings,
    RabbitSettings,
    RedisSettings,
    Settings,
    TimescaleSettings,
)
from services.context import Context, build_context
from tests.conftest import require_env

BACKENDS = ["embedded", "real"]


def make_settings(
    backend: str, unique: str, data_dir: Path, *, rabbit: dict[str, Any] | None = None, **jobs: Any,
) -> Settings:
    rabbit_url = redis_url = None
    if backend == "real":
        rabbit_url = require_env("QUEUE_CONNECTIONURL")
        redis_url = require_env("REDIS_URI")
    return Settings(
        app=AppSettings(environment="test", data_dir=str(data_dir)),
        rabbit=RabbitSettings(**{"url": rabbit_url, "queue_prefix": f"t{unique}.", "reconnect_max_s": 1.0,
                                 **(rabbit or {})}),
        redis=RedisSettings(url=redis_url, key_prefix=f"t{unique}:"),
        mongo=MongoSettings(url=None),
        timescale=TimescaleSettings(url=None),
        jobs=JobSettings(**{"retry_base_s": 0.05, "retry_max_s": 0.2, **jobs}),
    )


@asynccontextmanager
async def context(settings: Settings, role: str = "test") -> AsyncIterator[Context]:
    ctx = await build_context(settings, role=role)
    try:
        yield ctx
    finally:
        await ctx.close()
        if settings.rabbit.url:
            await _delete_queues(settings)


async def _delete_queues(settings: Settings) -> None:
    """Remove the test's queues so a long run does not leave hundreds behind."""
    import aio_pika

    prefix = settings.rabbit.queue_prefix
    connection = await aio_pika.connect(settings.rabbit.url)
    try:
        channel = await connection.channel()
        from services.broker.queues import Queue

        for queue in Queue:
            for name in (queue.value, f"{queue.value}.dead"):
                try:
                    await channel.queue_delete(prefix + name)
                except Exception:
                    channel = await connection.channel()
            try:
                await channel.exchange_delete(f"{prefix}{queue.value}.dlx")
            except Exception:
                channel = await connection.channel()
    finally:
        await connection.close()


async def new_key(ctx: Context, org: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await ctx.keys.create(org))[0]}"}


def real_only() -> bool:
    return bool(os.environ.get("QUEUE_CONNECTIONURL") and os.environ.get("REDIS_URI"))
