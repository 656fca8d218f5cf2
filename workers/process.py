"""Worker process lifecycle: start the runner on a Context; drain it on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from config import Settings
from services.context import Context, build_context
from services.observability.exposition import serve_worker_metrics
from workers.health import start_heartbeat
from workers.pools import consumers_for
from workers.runner import Runner

log = logging.getLogger(__name__)


async def start_runner(ctx: Context, pools: list[str]) -> Callable[[], Awaitable[None]]:
    """Start consuming `pools` on `ctx`; returns the function that drains them."""
    runner = Runner(ctx, consumers_for(ctx, pools))
    ctx.extras["runner"] = runner
    await runner.start()

    async def stop() -> None:
        await runner.drain(ctx.settings.jobs.drain_grace_s)

    return stop


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
    runner = Runner(ctx, consumers_for(ctx, pools))
    ctx.extras["runner"] = runner
    server = serve_worker_metrics(settings.app.metrics_port, probes={
        "/healthz": runner.health.live, "/readyz": runner.health.ready})
    stop_heartbeat = start_heartbeat(runner.health, ctx.broker)
    try:
        await runner.start()
        for hook in ctx.extras.get("worker_hooks", []):
            await hook(ctx)
        await stopping.wait()
        log.info("signal received; draining")
        await runner.drain(settings.jobs.drain_grace_s)
    finally:
        await stop_heartbeat()
        await ctx.close()
        if server is not None:
            server.stop()
