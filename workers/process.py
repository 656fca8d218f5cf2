"""Worker process lifecycle: start the runner on a Context; drain it on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from config import Settings
from services.context import Context, build_context
from services.observability.exposition import serve_worker_metrics
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
    """`python index.py worker`: consume until SIGTERM, then drain and exit."""
    ctx = await build_context(settings, role="worker")
    # Governance: settle the limits reservation of each queued job this worker finishes.
    from services.jobs.events import add_listener
    from services.limits.runtime import build_governor, job_settler, redis_prefix

    governor = build_governor(settings.governance, ctx.redis, prefix=redis_prefix(settings.redis.key_prefix),
                              reservation_ttl_s=settings.jobs.retention_s)
    add_listener(ctx, job_settler(governor))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server = serve_worker_metrics(settings.app.metrics_port)
    try:
        stop = await start_runner(ctx, pools)
        for hook in ctx.extras.get("worker_hooks", []):
            await hook(ctx)
        await stopping.wait()
        log.info("signal received; draining")
        await stop()
    finally:
        await ctx.close()
        if server is not None:
            server.stop()
