"""Worker process lifecycle: start the runner on a Context; drain it on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from config import Settings
from services.common.gc import WORKER_YOUNG_THRESHOLD, freeze_startup_heap
from services.context import Context, build_context
from services.observability.exposition import serve_worker_metrics
from workers.health import start_heartbeat
from workers.pools import consumers_for
from workers.runner import Runner

log = logging.getLogger(__name__)


def build_runner(ctx: Context, pools: list[str]) -> Runner:
    return Runner(ctx.broker, consumers_for(ctx, pools), prefetch=ctx.settings.rabbit.prefetch,
                  drain_grace_s=ctx.settings.jobs.drain_grace_s, stuck_after_s=ctx.settings.jobs.deadline_s * 2)


async def start_runner(ctx: Context, pools: list[str]) -> Runner:
    """Start consuming `pools` on `ctx`; `await runner.stop()` drains them. The metrics pool
    migrates its database first (best effort)."""
    runner = build_runner(ctx, pools)
    await _start(ctx, runner, pools)
    return runner


async def _start(ctx: Context, runner: Runner, pools: list[str]) -> None:
    """What every worker runs beside its consumers, in process or as `index.py worker`:
    the fair-share dispatch (held jobs reach RabbitMQ only through it) and the provider
    batch poller."""
    if "metrics" in pools:
        await ctx.metrics.open()
    await runner.start()
    ctx.scheduler.start_dispatching([p for p in pools if p in ctx.executors])
    if "model" in pools:
        ctx.batches.provider.start()  # polls the providers' batch APIs for batches routed there


async def run_worker(settings: Settings, pools: list[str]) -> None:
    """`python index.py worker`: consume until SIGTERM, then drain and exit.

    The metrics port also answers /healthz (liveness) and /readyz (readiness): see
    workers/health.py. Readiness fails as soon as the drain starts.
    """
    ctx = await build_context(settings, role="worker")
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    runner = build_runner(ctx, pools)
    server = serve_worker_metrics(settings.app.metrics_port, settings.app.metrics_host, probes={
        "/healthz": runner.health.live, "/readyz": runner.health.ready})
    stop_heartbeat = start_heartbeat(runner.health, ctx.broker)
    try:
        # Before consuming: the first deliveries must not wait on a full collection.
        freeze_startup_heap(WORKER_YOUNG_THRESHOLD)
        await _start(ctx, runner, pools)
        await stopping.wait()
        log.info("signal received; draining")
        await runner.stop()
    finally:
        await stop_heartbeat()
        await ctx.close()
        if server is not None:
            server.stop()
