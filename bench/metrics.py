"""Metric rows ingested end to end: RabbitMQ queue -> metrics pool -> COPY into PostgreSQL.

    PYTHONPATH=. .venv/bin/python bench/metrics.py [--events 20000] [--batch-size 5000]

N metric events are published to a fresh `metrics` queue first (publish rate reported on
its own), then the metrics pool (the real runner, handler, batcher and PostgreSQL sink, on
uvloop as `python index.py worker --pool metrics` runs) starts in this process. Ingest rate
= N / time from the pool's start to the last row committed, read from the committed-rows
counter the sink increments after each commit; the table is then checked to hold exactly N
rows. cpu_us_per_row is this process's CPU time over the ingest divided by N.

For scale, the same run also measures each half on its own:
- `ceiling_per_s`: N messages drained through the same runner with a handler that does
  nothing (consume + ack only): what the RabbitMQ transport allows on this machine now;
  `of_ceiling` is the share of it the metrics pool reaches.
- `multi_ack_ceiling_per_s`: the same no-op drain straight on the broker, acking once per
  batch-size messages with AMQP's `multiple` flag instead of once per message (reaches
  into the RabbitMQ adapter's message object: a measurement of a proposed change only).
- `sink_rows_per_s`: N other events written straight through the sink in batches of
  batch-size (decode from bytes + COPY + INSERT ... ON CONFLICT + commit), no broker.
Runs in a private schema and queue prefix, both removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import uvloop

from bench.common import service_env
from config import AppSettings, MongoSettings, RabbitSettings, RedisSettings, Settings, TimescaleSettings
from services.broker.base import Delivery, OutgoingMessage
from services.broker.queues import Queue
from services.context import Context, build_context
from services.metrics.schemas import MetricEvent, decode_event
from services.metrics.setup import open_metrics
from services.observability.prom import METRICS_ROWS
from workers.process import start_runner
from workers.runner import Consumer, Runner

PUBLISH_CHUNK = 2000


def events(n: int) -> list[OutgoingMessage]:
    start = datetime.now(UTC) - timedelta(hours=1)
    models = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku"), ("groq", "llama-3.1-8b")]
    out = []
    for i in range(n):
        provider, model = models[i % 3]
        event = MetricEvent(
            time=start + timedelta(microseconds=i * 30), org_id=f"org-{i % 20}",
            bridge_id=f"br_{i % 50}", bridge_version="3", job_id=f"job_{uuid.uuid4().hex}",
            kind="model", provider=provider, model=model,
            status="failed" if i % 50 == 0 else "succeeded",
            error_class="provider_error" if i % 50 == 0 else None,
            cache=("hit", "miss", "bypass")[i % 3], attempts=1, fallback_used=i % 40 == 0,
            queue_ms=3.2, provider_ms=420.5, total_ms=431.9, input_tokens=350, output_tokens=120,
            cost_usd=0.000125,
        )
        out.append(OutgoingMessage(event.encode(), message_id=event.job_id))
    return out


async def run(n: int, batch_size: int, *, references: bool = True) -> dict[str, Any]:
    env = service_env()
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    schema = f"bench_metrics_{prefix}"
    pg_url = env["TIMESCALE_SERVICE_URL"]
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    settings = Settings(
        app=AppSettings(data_dir=f"/tmp/{prefix}", log_level="WARNING"),
        mongo=MongoSettings(url=None), redis=RedisSettings(url=None),
        rabbit=RabbitSettings(url=env["QUEUE_CONNECTIONURL"], queue_prefix=prefix + "."),
        timescale=TimescaleSettings(url=pg_url, db_schema=schema, batch_size=batch_size),
    )
    ctx = await build_context(settings, role="worker")
    try:
        await open_metrics(ctx)
        body = events(n)
        await ctx.broker.declare([Queue.METRICS.value])
        publish_s = await _publish(ctx, body)
        ceiling_s = multi_ack_s = sink_s = float("nan")
        if references:
            ceiling_s = await _bare_drain(ctx, n, 2 * batch_size)
            await _publish(ctx, body)
            multi_ack_s = await _multi_ack_drain(ctx, n, batch_size)
            sink_s = await _sink_only(ctx, events(n), batch_size)
        await _publish(ctx, body)
        base = METRICS_ROWS._value.get()  # the sink-only phase counted too: start from here
        started, cpu = time.perf_counter(), time.process_time()
        stop = await start_runner(ctx, ["metrics"])
        while METRICS_ROWS._value.get() - base < n:
            await asyncio.sleep(0.005)
        ingest_s, cpu = time.perf_counter() - started, time.process_time() - cpu
        await stop()
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            cur = await conn.execute(f'SELECT count(*) FROM "{schema}".request_metrics'.encode())
            row = await cur.fetchone()
        rows = int(row[0]) if row else 0
    finally:
        await ctx.close()
        await _cleanup(env, prefix, schema)
    expected = 2 * n if references else n
    if rows != expected:
        raise SystemExit(f"expected {expected} rows, found {rows}")
    return {"events": n, "batch_size": batch_size, "publish_per_s": round(n / publish_s),
            "ingest_s": round(ingest_s, 3), "rows_per_s": round(n / ingest_s),
            "cpu_us_per_row": round(cpu / n * 1e6, 1),
            "ceiling_per_s": round(n / ceiling_s) if references else None,
            "of_ceiling": round(ceiling_s / ingest_s, 2) if references else None,
            "multi_ack_ceiling_per_s": round(n / multi_ack_s) if references else None,
            "sink_rows_per_s": round(n / sink_s) if references else None}


async def _multi_ack_drain(ctx: Context, n: int, batch_size: int) -> float:
    """Seconds to consume n messages acking one `multiple=True` ack per batch."""
    seen: list[Any] = []
    count = 0
    drained = asyncio.Event()

    async def collect(delivery: Any) -> None:
        nonlocal count
        count += 1
        seen.append(delivery)
        if len(seen) >= batch_size or count >= n:
            last = seen[-1]
            seen.clear()
            await last._msg.ack(multiple=True)
        if count >= n:
            drained.set()

    started = time.perf_counter()
    sub = await ctx.broker.consume(Queue.METRICS.value, collect, prefetch=2 * batch_size)
    await drained.wait()
    elapsed = time.perf_counter() - started
    await sub.cancel()
    return elapsed


async def _sink_only(ctx: Context, body: list[OutgoingMessage], batch_size: int) -> float:
    """Seconds to decode and write `body` straight through the sink, batch by batch."""
    assert ctx.metrics is not None
    started = time.perf_counter()
    for i in range(0, len(body), batch_size):
        await ctx.metrics.write([decode_event(m.body) for m in body[i:i + batch_size]])
    return time.perf_counter() - started


async def _publish(ctx: Context, body: list[OutgoingMessage]) -> float:
    started = time.perf_counter()
    for i in range(0, len(body), PUBLISH_CHUNK):
        await ctx.broker.publish_many(Queue.METRICS.value, body[i:i + PUBLISH_CHUNK])
    return time.perf_counter() - started


async def _bare_drain(ctx: Context, n: int, prefetch: int) -> float:
    """Seconds for the runner to consume and ack n messages with a no-op handler."""
    seen = 0
    drained = asyncio.Event()

    async def nothing(_ctx: Context, _delivery: Delivery) -> None:
        nonlocal seen
        seen += 1
        if seen >= n:
            drained.set()

    runner = Runner(ctx, [Consumer(Queue.METRICS.value, nothing, prefetch)])
    started = time.perf_counter()
    await runner.start()
    await drained.wait()
    elapsed = time.perf_counter() - started
    await runner.drain(5)
    return elapsed


async def _cleanup(env: dict[str, str], prefix: str, schema: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(env["QUEUE_CONNECTIONURL"])
    async with connection:
        channel = await connection.channel()
        for kind in Queue:  # start-up declares more than the metrics queue
            name = f"{prefix}.{kind.value}"
            for queue in (name, f"{name}.dead"):
                await channel.queue_delete(queue)
            await channel.exchange_delete(f"{name}.dlx")
    async with await psycopg.AsyncConnection.connect(env["TIMESCALE_SERVICE_URL"], autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())
    shutil.rmtree(f"/tmp/{prefix}", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--pool-only", action="store_true",
                        help="skip the reference drains (for profiling the pool with py-spy)")
    args = parser.parse_args()
    result = uvloop.run(run(args.events, args.batch_size, references=not args.pool_only))
    print(" ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
