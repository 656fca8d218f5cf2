"""The worker pools the code defines and the queues each consumes, for the deployment tests
(docker-compose.dev.yml, k8s/): read from the real pool builders on an embedded Context."""

from __future__ import annotations

import asyncio
import functools
import tempfile

from config import AppSettings, MongoSettings, RabbitSettings, RedisSettings, Settings, TimescaleSettings
from services.context import build_context
from workers.pools import consumers_for, pool_names

# Pools whose queues are not in services/broker/queues.py: RAG ingestion runs on Celery,
# which declares its own queue (`rag.ingest`, services/rag/ingest/celery_app.py).
CELERY_POOLS = {"ingest": {"rag.ingest"}}


@functools.cache
def _pools() -> dict[str, set[str]]:
    async def read() -> dict[str, set[str]]:
        with tempfile.TemporaryDirectory() as data_dir:
            ctx = await build_context(Settings(
                app=AppSettings(environment="test", data_dir=data_dir), rabbit=RabbitSettings(url=None),
                redis=RedisSettings(url=None), mongo=MongoSettings(url=None), timescale=TimescaleSettings(url=None),
            ), role="test")
            try:
                return {pool: {c.queue for c in consumers_for(ctx, [pool])} for pool in pool_names(ctx)}
            finally:
                await ctx.close()

    return asyncio.run(read())


def all_pools() -> set[str]:
    return set(_pools()) | set(CELERY_POOLS)


def queues_of(pool: str) -> set[str]:
    """Every queue `python index.py worker --pool POOL` consumes (dead-letter queues too)."""
    if pool in CELERY_POOLS and pool not in _pools():
        return CELERY_POOLS[pool]
    return _pools()[pool]
