"""Creates the shared asyncio Redis client (hiredis parser when installed)."""

from __future__ import annotations

import os

from redis.asyncio import BlockingConnectionPool, Redis

from config import Settings


def create_redis(settings: Settings, *, role: str) -> Redis:
    assert settings.redis.url
    # A blocking pool makes the 5,001st concurrent command wait for a free connection
    # instead of failing with "Too many connections" (the plain pool's behaviour).
    pool = BlockingConnectionPool.from_url(
        settings.redis.url,
        max_connections=settings.redis.max_connections,
        timeout=10,
        # Tag the connection so `CLIENT LIST` shows which process opened it.
        client_name=f"aim-{role}-{os.getpid()}",
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)
