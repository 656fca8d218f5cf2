"""PostgreSQL-specific behaviour of the sink: starting during an outage, refused values."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from urllib.parse import urlsplit

import psycopg
import pytest

from config import TimescaleSettings
from services.errors import Permanent
from services.metrics.batcher import Batcher
from services.metrics.postgres_sink import _TYPES, COLUMNS, PostgresMetricsSink
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


async def test_an_integer_the_column_cannot_hold_is_refused_not_wrapped(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings,
) -> None:
    # Binary COPY would store 40,000 in a smallint as -25,536: the sink must refuse it.
    sink = PostgresMetricsSink(pg_settings)
    await sink.open()
    try:
        with pytest.raises(SinkRejected):
            await sink.write([event("fine"), event("retried", attempts=40_000)])
        assert await sink.write([event("fine", cost_usd=0.1 + 0.2)]) == 1
    finally:
        await sink.close()
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute(f'SELECT cost_usd FROM "{pg_schema}".request_metrics'.encode())
        # numeric(20, 10) rounds the float's shortest decimal, as the text COPY did.
        assert await cur.fetchall() == [(Decimal("0.3000000000"),)]


async def test_binary_copy_types_match_the_migrated_columns(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings,
) -> None:
    # A migration that changes a column type must change _TYPES too, or every row is refused.
    sink = PostgresMetricsSink(pg_settings)
    await sink.open()
    await sink.close()
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
            " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            (f'"{pg_schema}".request_metrics',))
        columns: dict[str, str] = dict(await cur.fetchall())
    assert [columns[c] for c in COLUMNS] == list(_TYPES)


async def test_a_nul_byte_in_a_name_still_gets_the_job_its_row(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings,
) -> None:
    # PostgreSQL refuses NUL in text; the job must keep its row all the same.
    sink = PostgresMetricsSink(pg_settings)
    await sink.open()
    try:
        assert await sink.write([event("nul", provider="mo\x00ck", model="gpt\x00-x")]) == 1
    finally:
        await sink.close()
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute(f'SELECT provider, model FROM "{pg_schema}".request_metrics'.encode())
        assert await cur.fetchall() == [("mo\ufffdck", "gpt\ufffd-x")]
