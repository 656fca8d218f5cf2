"""Fixtures for the metrics tests: a private PostgreSQL schema per test, dropped after,
and event / job builders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from config import Settings, TimescaleSettings
from services.broker.base import OutgoingMessage
from services.metrics.schemas import MetricBatch, MetricEvent


@pytest.fixture
def pg_schema(pg_url: str, unique: str) -> Iterator[str]:
    """A schema of its own, so concurrent runs on the shared server never meet."""
    name = f"t_metrics_{unique}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"'.encode())
    try:
        yield name
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE'.encode())


@pytest.fixture
def pg_settings(pg_url: str, pg_schema: str) -> TimescaleSettings:
    return TimescaleSettings(url=pg_url, db_schema=pg_schema, pool_max=4, connect_timeout_s=2.0)


async def count_rows(pg_url: str, schema: str, where: str = "true") -> tuple[int, int]:
    """(rows, distinct job ids) in the schema's request_metrics."""
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute(
            f'SELECT count(*), count(DISTINCT job_id) FROM "{schema}".request_metrics '
            f"WHERE {where}".encode()
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def event(job_id: str, **fields: Any) -> MetricEvent:
    base: dict[str, Any] = {
        "time": T0, "org_id": "org-a", "job_id": job_id, "kind": "model", "provider": "openai",
        "model": "gpt-4o-mini", "status": "succeeded", "cache": "miss", "attempts": 1,
        "queue_ms": 3.0, "provider_ms": 100.0, "total_ms": 110.0, "input_tokens": 10,
        "output_tokens": 20, "cost_usd": 0.001,
    }
    return MetricEvent(**{**base, **fields})


def messages(events: Sequence[MetricEvent], per_message: int) -> list[OutgoingMessage]:
    """The queue messages producers send: v1 bodies (per_message=1, older producers) or v2
    envelopes of `per_message` events, as the outbox sends them."""
    if per_message == 1:
        return [OutgoingMessage(e.encode(), message_id=e.job_id) for e in events]
    return [OutgoingMessage(MetricBatch(events=list(events[i:i + per_message])).encode(),
                            message_id=f"mb_{events[i].job_id}")
            for i in range(0, len(events), per_message)]


def pipeline_settings(unique: str, data_dir: Path, pg: TimescaleSettings, **timescale: Any) -> Settings:
    """Real RabbitMQ and Redis (unique prefixes) with the metrics sink on `pg`."""
    from tests.backends import make_settings

    # Envelopes of 10 events: the pool's prefetch is then 10 messages, two DB batches.
    overrides = {"batch_size": 50, "batch_max_age_s": 0.05, "flush_retry_max_s": 0.2,
                 "connect_timeout_s": 1.0, "outbox_max_events": 10, **timescale}
    return make_settings("real", unique, data_dir).model_copy(
        update={"timescale": pg.model_copy(update=overrides)})


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 30) -> None:
    """Poll `check` until true; fail after timeout_s (a liveness bound, not a timing claim)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
