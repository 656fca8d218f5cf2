"""Creates the shared asyncio Redis client (hiredis parser when installed)."""

from __future__ import annotations

import os

from redis.asyncio import Redis

from config import Settings


def create_redis(settings: Settings, *, role: str) -> Redis:
    assert settings.redis.url
    return Redis.from_url(
        settings.redis.url,
        max_connections=settings.redis.max_connections,
        # Tag the connection so `CLIENT LIST` shows which process opened it.
        client_name=f"aim-{role}-{os.getpid()}",
        health_check_interval=30,
    )
