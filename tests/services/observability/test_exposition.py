"""The workers' metrics server and the queue-depth sampler."""

from __future__ import annotations

import asyncio

import httpx

from services.broker.base import OutgoingMessage
from services.broker.memory import MemoryBroker
from services.broker.sampler import sample_queue_depths, start_depth_sampler
from services.observability.exposition import serve_worker_metrics, start_metrics_server
from services.observability.prom import METRICS_ROWS, QUEUE_DEPTH


async def test_worker_metrics_server_serves_the_registry() -> None:
    METRICS_ROWS.inc(0)
    server = start_metrics_server(0, addr="127.0.0.1")
    try:
        async with httpx.AsyncClient() as client:
            got = await client.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    assert got.status_code == 200
    assert "aim_metric_rows_written_total" in got.text


async def test_queue_depth_is_sampled_into_the_gauge(unique: str) -> None:
    broker = MemoryBroker()
    queue = f"q{unique}"
    await broker.declare([queue])
    for i in range(3):
        await broker.publish(queue, OutgoingMessage(b"x", message_id=str(i)))
    await sample_queue_depths(broker, [queue])
    assert QUEUE_DEPTH.labels(queue)._value.get() == 3
    await broker.publish(queue, OutgoingMessage(b"x", message_id="3"))
    stop = start_depth_sampler(broker, [queue], interval_s=60)
    try:
        for _ in range(100):
            if QUEUE_DEPTH.labels(queue)._value.get() == 4:
                break
            await asyncio.sleep(0.01)
    finally:
        await stop()
    assert QUEUE_DEPTH.labels(queue)._value.get() == 4


async def test_a_taken_port_does_not_stop_the_worker() -> None:
    first = start_metrics_server(0, addr="0.0.0.0")
    try:
        assert serve_worker_metrics(first.port) is None
    finally:
        first.stop()
