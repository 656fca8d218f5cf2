"""Both message versions through the metrics pool on real RabbitMQ and PostgreSQL: a v2
envelope lands exactly its rows, a v1 body is still read, and an envelope holding an event
the database refuses is dead-lettered while its other rows stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import TimescaleSettings
from services.broker.base import OutgoingMessage
from services.broker.queues import Queue, dead_letter_queue
from services.context import Context
from services.metrics.schemas import MetricEvent
from tests.backends import context
from tests.services.metrics.conftest import count_rows, event, eventually, messages, pipeline_settings
from workers.process import start_runner
from workers.runner import Runner

pytestmark = [pytest.mark.postgres, pytest.mark.rabbit]
START = datetime(2026, 3, 1, tzinfo=UTC)


def events(prefix: str, count: int, **fields: object) -> list[MetricEvent]:
    return [event(f"{prefix}_{i:04d}", time=START + timedelta(milliseconds=i), **fields)
            for i in range(count)]


# The runner of each open metrics pool, to see when its in-flight messages are settled.
RUNNERS: dict[int, Runner] = {}


@asynccontextmanager
async def metrics_pool(settings_dir: Path, unique: str, pg: TimescaleSettings) -> AsyncIterator[Context]:
    async with context(pipeline_settings(unique, settings_dir, pg)) as ctx:
        runner = await start_runner(ctx, ["metrics"])
        RUNNERS[id(ctx)] = runner
        try:
            yield ctx
        finally:
            await runner.stop()
            del RUNNERS[id(ctx)]


async def settle(ctx: Context, pg_url: str, schema: str, rows: int) -> None:
    """Until `rows` rows are stored and every message was consumed and settled."""
    async def settled() -> bool:
        return ((await count_rows(pg_url, schema))[0] >= rows
                and await ctx.broker.depth(Queue.METRICS.value) == 0
                and RUNNERS[id(ctx)].in_flight == 0)

    await eventually(settled)


async def test_an_envelope_lands_exactly_its_rows(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings, unique: str, tmp_path: Path,
) -> None:
    # 120 events in one message: more than two DB batches of 50.
    [envelope] = messages(events("env", 120), per_message=120)
    theirs = messages(events("theirs", 5, org_id="org-b"), per_message=5)
    async with metrics_pool(tmp_path, unique, pg_settings) as ctx:
        # The same envelope twice (a redelivery, or a producer retry) counts once.
        await ctx.broker.publish_many(Queue.METRICS.value, [envelope, envelope, *theirs])
        await settle(ctx, pg_url, pg_schema, 125)
        assert await ctx.broker.depth(dead_letter_queue(Queue.METRICS.value)) == 0
    assert await count_rows(pg_url, pg_schema, "org_id = 'org-a'") == (120, 120)
    assert await count_rows(pg_url, pg_schema, "org_id = 'org-b'") == (5, 5)


async def test_a_v1_body_is_still_accepted(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings, unique: str, tmp_path: Path,
) -> None:
    old = events("v1", 3)
    async with metrics_pool(tmp_path, unique, pg_settings) as ctx:
        # What an older producer sent, queued next to the new envelopes.
        await ctx.broker.publish_many(
            Queue.METRICS.value, [*messages(old, per_message=1), *messages(events("v2", 4), 4)])
        await settle(ctx, pg_url, pg_schema, 7)
        assert await ctx.broker.depth(dead_letter_queue(Queue.METRICS.value)) == 0
    assert await count_rows(pg_url, pg_schema, "job_id LIKE 'v1_%'") == (3, 3)
    assert await count_rows(pg_url, pg_schema) == (7, 7)


async def test_an_envelope_with_a_refused_event_is_dead_lettered_and_its_rows_stay(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings, unique: str, tmp_path: Path,
) -> None:
    # Valid for the model, too large for the integer column.
    mixed = [*events("ok", 3), event("huge", input_tokens=2**40)]
    async with metrics_pool(tmp_path, unique, pg_settings) as ctx:
        await ctx.broker.publish_many(Queue.METRICS.value, [
            *messages(mixed, per_message=4),
            OutgoingMessage(b'{"v": 3, "events": []}', message_id="from_the_future"),
        ])
        await settle(ctx, pg_url, pg_schema, 3)

        async def both_dead_lettered() -> bool:
            return await ctx.broker.depth(dead_letter_queue(Queue.METRICS.value)) == 2

        await eventually(both_dead_lettered)
    assert await count_rows(pg_url, pg_schema) == (3, 3)
