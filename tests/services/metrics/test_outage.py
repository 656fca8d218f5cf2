"""The metrics pool on real RabbitMQ and PostgreSQL: a database outage loses nothing, and
neither an outage nor a redelivered committed batch writes any row twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from config import TimescaleSettings
from services.broker.base import Delivery, OutgoingMessage
from services.broker.queues import Queue, dead_letter_queue
from services.context import build_context
from tests.backends import context
from tests.services.metrics.conftest import count_rows, event, eventually, messages, pipeline_settings
from tests.services.metrics.tcp_proxy import TcpProxy, via
from workers.handlers import metrics as metrics_handler
from workers.process import start_runner

pytestmark = [pytest.mark.postgres, pytest.mark.rabbit]
START = datetime(2026, 3, 1, tzinfo=UTC)


# One event per message (v1, older producers) and envelopes of 10 (v2, the outbox).
FORMATS = pytest.mark.parametrize("per_message", [1, 10], ids=["v1", "v2"])


def batch(first: int, count: int, per_message: int) -> list[OutgoingMessage]:
    events = [event(f"job_{i:06d}", time=START + timedelta(milliseconds=i))
              for i in range(first, first + count)]
    return messages(events, per_message)


@FORMATS
async def test_database_outage_holds_events_in_the_queue_and_loses_none(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings, unique: str, tmp_path,
    per_message: int,
) -> None:
    target = urlsplit(pg_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    proxied = pg_settings.model_copy(update={"url": via(pg_url, port)})
    settings = pipeline_settings(unique, tmp_path, proxied)
    try:
        async with context(settings) as ctx:
            stop = (await start_runner(ctx, ["metrics"])).stop
            await ctx.metrics.open()
            try:
                await ctx.broker.publish_many(Queue.METRICS.value, batch(0, 200, per_message))

                async def first_phase() -> bool:
                    return (await count_rows(pg_url, pg_schema))[0] == 200

                await eventually(first_phase)

                proxy.cut()
                held = batch(200, 800, per_message)
                await ctx.broker.publish_many(Queue.METRICS.value, held)

                async def piling_up() -> bool:
                    # Beyond the prefetch (10 messages) the events wait in RabbitMQ.
                    depth = await ctx.broker.depth(Queue.METRICS.value)
                    return depth >= len(held) - 10 and proxy.refused > 0

                await eventually(piling_up)
                assert await count_rows(pg_url, pg_schema) == (200, 200)

                proxy.restore()

                async def all_landed() -> bool:
                    return (await count_rows(pg_url, pg_schema))[0] >= 1000

                await eventually(all_landed)
            finally:
                await stop()
            assert await ctx.broker.depth(Queue.METRICS.value) == 0
            # Holding, not requeueing, during the outage: no message burned its delivery limit.
            assert await ctx.broker.depth(dead_letter_queue(Queue.METRICS.value)) == 0
    finally:
        await proxy.close()
    assert await count_rows(pg_url, pg_schema) == (1000, 1000)


@FORMATS
async def test_a_committed_batch_redelivered_is_not_counted_twice(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings, unique: str, tmp_path,
    per_message: int,
) -> None:
    settings = pipeline_settings(unique, tmp_path, pg_settings)
    # A worker that commits the rows and dies before its acks reach RabbitMQ.
    crashed = await build_context(settings, role="worker")
    await crashed.broker.declare([Queue.METRICS.value])
    handled: list[str] = []

    async def commit_without_ack(delivery: Delivery) -> None:
        await metrics_handler.handler(crashed.metrics.batcher)(delivery)
        handled.append(delivery.message_id)

    await crashed.broker.consume(Queue.METRICS.value, commit_without_ack, prefetch=500)
    sent = batch(0, 300, per_message)
    await crashed.broker.publish_many(Queue.METRICS.value, sent)

    async def committed() -> bool:
        return len(handled) == len(sent)

    await eventually(committed)
    assert await count_rows(pg_url, pg_schema) == (300, 300)
    await crashed.close()  # the unacked messages go back to the queue

    async with context(settings) as ctx:
        redelivered: list[bool] = []

        async def count_then_handle(delivery: Delivery) -> None:
            redelivered.append(delivery.redelivered)
            await metrics_handler.handler(ctx.metrics.batcher)(delivery)
            await delivery.ack()

        sub = await ctx.broker.consume(Queue.METRICS.value, count_then_handle, prefetch=500)

        async def drained() -> bool:
            return len(redelivered) == len(sent) and await ctx.broker.depth(Queue.METRICS.value) == 0

        await eventually(drained)
        await sub.cancel()
        # Skipped as already stored, not refused by the primary key and dead-lettered.
        assert await ctx.broker.depth(dead_letter_queue(Queue.METRICS.value)) == 0
    assert all(redelivered)
    assert await count_rows(pg_url, pg_schema) == (300, 300)
