"""The worker pools the code defines and the queues each consumes, for the deployment tests
(docker-compose.dev.yml, k8s/)."""

from __future__ import annotations

from types import SimpleNamespace

from config import Settings
from workers.pools import POOLS

# Pools whose queues are not in services/broker/queues.py: RAG ingestion runs on Celery,
# which declares its own queue (`ingest`).
CELERY_POOLS = {"ingest": {"ingest"}}


def all_pools() -> set[str]:
    return set(POOLS) | set(CELERY_POOLS)


def queues_of(pool: str) -> set[str]:
    """Every queue `python index.py worker --pool POOL` consumes (dead-letter queues too)."""
    if pool in CELERY_POOLS and pool not in POOLS:
        return CELERY_POOLS[pool]
    # The pool builders only read settings to size their consumers: no connection is made.
    ctx = SimpleNamespace(settings=Settings(), extras={})
    return {consumer.queue for consumer in POOLS[pool](ctx)}  # type: ignore[arg-type]
