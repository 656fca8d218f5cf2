"""A worker's probes on its metrics port: ready while connected and consuming on real
RabbitMQ, not ready once draining, not live when its loop stops beating or it is stuck."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from services.broker.base import Delivery, OutgoingMessage
from services.observability.exposition import start_metrics_server
from tests.backends import context, make_settings
from workers.health import BEAT_STALE_S, WorkerHealth, start_heartbeat
from workers.runner import Consumer, Runner


async def test_probes_follow_the_worker_through_its_life(rabbit_url: str, redis_url: str,
                                                         unique: str, tmp_path: Path) -> None:
    settings = make_settings("real", unique, tmp_path)
    async with context(settings) as ctx:
        handled = asyncio.Event()

        async def handler(_delivery: Delivery) -> None:
            handled.set()

        runner = Runner(ctx.broker, [Consumer("jobs.model", handler, 10)], prefetch=10)
        server = start_metrics_server(0, addr="127.0.0.1", probes={
            "/healthz": runner.health.live, "/readyz": runner.health.ready})
        stop_heartbeat = start_heartbeat(runner.health, ctx.broker)
        base = f"http://127.0.0.1:{server.port}"
        try:
            async with httpx.AsyncClient() as client:
                # Started but not consuming yet: alive, not ready.
                assert (await client.get(f"{base}/healthz")).status_code == 200
                assert (await client.get(f"{base}/readyz")).status_code == 503
                await runner.start()
                while not runner.health.connected:
                    await asyncio.sleep(0.05)
                ready = await client.get(f"{base}/readyz")
                assert ready.status_code == 200
                assert ready.json()["connected"] and ready.json()["consuming"]
                assert "aim_jobs_in_flight" in (await client.get(f"{base}/metrics")).text

                await ctx.broker.publish("jobs.model", OutgoingMessage(b"{}", "m-1"))
                await asyncio.wait_for(handled.wait(), 10)

                await runner.drain(1.0)
                assert (await client.get(f"{base}/readyz")).json()["consuming"] is False
                assert (await client.get(f"{base}/readyz")).status_code == 503
                assert (await client.get(f"{base}/healthz")).status_code == 200
        finally:
            await stop_heartbeat()
            server.stop()


def test_a_loop_that_stopped_beating_is_not_live() -> None:
    health = WorkerHealth(stuck_after_s=600, connected=True, consuming=True)
    assert health.live()[0] and health.ready()[0]
    health.last_beat = time.monotonic() - BEAT_STALE_S - 1
    assert not health.live()[0]
    assert not health.ready()[0]


def test_messages_in_flight_with_none_settled_for_too_long_is_stuck() -> None:
    in_flight = 3
    health = WorkerHealth(stuck_after_s=60, in_flight=lambda: in_flight, connected=True, consuming=True)
    assert health.live()[0]
    health.last_settled = time.monotonic() - 61
    ok, detail = health.live()
    assert not ok and detail["stuck"]
    in_flight = 0  # idle for a long time is fine: there was nothing to do
    assert health.live()[0]
