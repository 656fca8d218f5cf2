"""PostgreSQL-specific behaviour of the sink: starting during an outage, refused values."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from config import TimescaleSettings
from services.errors import Permanent
from services.metrics.batcher import Batcher
from services.metrics.postgres_sink import PostgresMetricsSink
from services.metrics.sink import SinkRejected, SinkUnavailable
from tests.services.metrics.conftest import count_rows, event
from tests.services.metrics.tcp_proxy import TcpProxy, via

pytestmark = pytest.mark.postgres


async def test_a_sink_started_during_an_outage_recovers_on_its_own(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings,
) -> None:
    target = urlsplit(pg_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    proxy.cut()
    sink = PostgresMetricsSink(pg_settings.model_copy(update={"url": via(pg_url, port)}))
    try:
        with pytest.raises(SinkUnavailable):
            await sink.write([event("early")])
        proxy.restore()
        # The same sink migrates and writes once the database answers: no restart needed.
        assert await sink.write([event("early")]) == 1
    finally:
        await sink.close()
        await proxy.close()
    assert await count_rows(pg_url, pg_schema) == (1, 1)


async def test_a_value_postgres_refuses_is_dead_lettered_alone(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings,
) -> None:
    sink = PostgresMetricsSink(pg_settings)
    await sink.open()
    try:
        # Valid for the model, too large for the integer column.
        huge = event("huge", input_tokens=2**40)
        with pytest.raises(SinkRejected):
            await sink.write([event("fine"), huge])
        batcher = Batcher(sink, max_size=3, max_age_s=30)
        results = await asyncio.gather(batcher.add(event("a")), batcher.add(huge),
                                       batcher.add(event("b")), return_exceptions=True)
    finally:
        await sink.close()
    assert results[0] is None and results[2] is None and isinstance(results[1], Permanent)
    assert await count_rows(pg_url, pg_schema) == (2, 2)
