"""Metric rows ingested end to end: outbox -> RabbitMQ queue -> metrics pool -> COPY into PostgreSQL.

    PYTHONPATH=. .venv/bin/python bench/metrics.py [--events 100000] [--batch-size 5000]
        [--outbox-events 500]

N metric events are published first the way producers send them: every event through the
process's outbox (services/metrics/outbox.py) with all of a chunk's `add` calls in flight
at once, as concurrent job completions would, so they go out as N / outbox-events v2
envelopes (publish rate reported on its own). Then the metrics pool (the real runner,
handler, batcher and PostgreSQL sink, on uvloop as `python index.py worker --pool metrics`
runs) starts in this process. Ingest rate = N / time from the pool's start to the last row
committed, read from the committed-rows counter the sink increments after each commit; the
table is then checked to hold exactly the rows written. cpu_us_per_row is this process's
CPU time over the ingest divided by N.

For scale, the same run also measures each half on its own:
- `ceiling_per_s`: the same envelopes drained through the same runner with a handler that
  does nothing (consume + ack only), in events/s: what the RabbitMQ transport allows for
  these messages on this machine now; `of_ceiling` is the share of it the pool reaches.
- `sink_rows_per_s`: N other events, as envelopes, decoded and written straight through the
  sink in batches of batch-size (decode from bytes + COPY + INSERT ... ON CONFLICT +
  commit), no broker: the database side's own limit.
(The multiple-ack ceiling measured before is gone: with 500 events a message, a 5,000-event
batch is 10 acks, so coalescing acks no longer matters.)
Runs in a private schema and queue prefix, both removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import uvloop

from bench.common import delete_queues, service_env
from config import AppSettings, MongoSettings, RabbitSettings, RedisSettings, Settings, TimescaleSettings
from services.broker.base import Delivery
from services.broker.queues import Queue
from services.context import Context, build_context
from services.metrics.outbox import metrics_outbox
from services.metrics.runtime import pool_prefetch
from services.metrics.schemas import MetricBatch, MetricEvent, decode_events
from services.observability.prom import METRICS_ROWS
from workers.process import start_runner
from workers.runner import Consumer, Runner

# Outbox adds in flight at once: 10,000 finishing jobs, 20 envelopes of 500.
PUBLISH_CHUNK = 10_000


def events(n: int, first: int = 0) -> list[MetricEvent]:
    start = datetime.now(UTC) - timedelta(hours=1)
    models = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku"), ("groq", "llama-3.1-8b")]
    return [
        MetricEvent(
            time=start + timedelta(microseconds=i * 30), org_id=f"org-{i % 20}",
            bridge_id=f"br_{i % 50}", bridge_version="3", job_id=f"job_{uuid.uuid4().hex}",
            kind="model", provider=models[i % 3][0], model=models[i % 3][1],
            status="failed" if i % 50 == 0 else "succeeded",
            error_class="provider_error" if i % 50 == 0 else None,
            cache=("hit", "miss", "bypass")[i % 3], attempts=1, fallback_used=i % 40 == 0,
            queue_ms=3.2, provider_ms=420.5, total_ms=431.9, input_tokens=350, output_tokens=120,
            cost_usd=0.000125,
        )
        for i in range(first, first + n)
    ]


async def run(n: int, batch_size: int, outbox_events: int, *, references: bool = True) -> dict[str, Any]:
    env = service_env()
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    schema = f"bench_metrics_{prefix}"
    pg_url = env["TIMESCALE_SERVICE_URL"]
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    timescale = TimescaleSettings(url=pg_url, db_schema=schema, batch_size=batch_size,
                                  outbox_max_events=outbox_events)
    settings = Settings(
        app=AppSettings(data_dir=f"/tmp/{prefix}", log_level="WARNING"),
        mongo=MongoSettings(url=None), redis=RedisSettings(url=None),
        rabbit=RabbitSettings(url=env["QUEUE_CONNECTIONURL"], queue_prefix=prefix + "."),
        timescale=timescale,
    )
    ctx = await build_context(settings, role="worker")
    try:
        await ctx.metrics.open()
        await ctx.broker.declare([Queue.METRICS.value])
        publish_s = await _publish(ctx, n)
        messages = await ctx.broker.depth(Queue.METRICS.value)
        ceiling_s = sink_s = float("nan")
        if references:
            ceiling_s = await _bare_drain(ctx, messages, pool_prefetch(timescale))
            sink_s = await _sink_only(ctx, n, batch_size, outbox_events)
            await _publish(ctx, n)
        # A worker process does not hold the producers' events: nothing of them stays alive
        # here either, or every garbage collection during the ingest would scan them.
        gc.collect()
        base = METRICS_ROWS._value.get()  # the sink-only phase counted too: start from here
        started, cpu = time.perf_counter(), time.process_time()
        stop = (await start_runner(ctx, ["metrics"])).stop
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
    return {"events": n, "messages": messages, "batch_size": batch_size,
            "prefetch": pool_prefetch(timescale), "publish_per_s": round(n / publish_s),
            "ingest_s": round(ingest_s, 3), "rows_per_s": round(n / ingest_s),
            "cpu_us_per_row": round(cpu / n * 1e6, 1),
            "ceiling_per_s": round(n / ceiling_s) if references else None,
            "of_ceiling": round(ceiling_s / ingest_s, 2) if references else None,
            "sink_rows_per_s": round(n / sink_s) if references else None}


async def _publish(ctx: Context, n: int) -> float:
    """Seconds to publish n new events through the outbox, every add of a chunk in flight at
    once (making the events is not timed)."""
    outbox = metrics_outbox(ctx)
    elapsed = 0.0
    for i in range(0, n, PUBLISH_CHUNK):
        chunk = events(min(PUBLISH_CHUNK, n - i), first=i)
        started = time.perf_counter()
        await asyncio.gather(*(outbox.add(e) for e in chunk))
        elapsed += time.perf_counter() - started
    return elapsed


async def _sink_only(ctx: Context, n: int, batch_size: int, per_message: int) -> float:
    """Seconds to decode n other events from envelopes and write them straight through the sink."""
    assert ctx.metrics is not None
    body = events(n)
    envelopes = [MetricBatch(events=body[i:i + per_message]).encode()
                 for i in range(0, n, per_message)]
    del body
    per_batch = max(1, batch_size // per_message)
    started = time.perf_counter()
    for i in range(0, len(envelopes), per_batch):
        await ctx.metrics.write([e for m in envelopes[i:i + per_batch] for e in decode_events(m)])
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
    await delete_queues(env["QUEUE_CONNECTIONURL"], prefix + ".")  # start-up declares more than metrics
    async with await psycopg.AsyncConnection.connect(env["TIMESCALE_SERVICE_URL"], autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())
    shutil.rmtree(f"/tmp/{prefix}", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--outbox-events", type=int, default=500,
                        help="events per message (TIMESCALE_OUTBOX_MAX_EVENTS)")
    parser.add_argument("--pool-only", action="store_true",
                        help="skip the reference drains (for profiling the pool with py-spy)")
    args = parser.parse_args()
    result = uvloop.run(run(args.events, args.batch_size, args.outbox_events,
                              references=not args.pool_only))
    print(" ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
