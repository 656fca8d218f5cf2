"""Start-up wiring for the metrics domain: the sink, the outbox, the job listener and the
batcher.

`install_metrics` runs in build_context for every process: it attaches the (unopened) sink
as ctx.metrics, makes the process's outbox and registers the listener that publishes one
event per finished job through it.
`open_metrics` migrates and connects; the API (index.py) and the metrics pool
(workers/pools.py) call it at start-up. It
is best effort there: the sink also opens on first use, so a process started during a
database outage comes good on its own, and the API keeps serving jobs meanwhile.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from config import TimescaleSettings
from services.broker.queues import Queue
from services.metrics.batcher import Batcher
from services.metrics.outbox import install_outbox
from services.metrics.publisher import install_publisher
from services.metrics.sink import MetricsSink, create_sink

if TYPE_CHECKING:
    from services.context import Context

log = logging.getLogger(__name__)
# Messages in flight even when a DB batch is smaller than one envelope: one being decoded
# while others wait on their commit.
MIN_PREFETCH = 4


async def install_metrics(ctx: Context) -> MetricsSink:
    """Attach the sink to ctx (no connection yet) and publish an event per finished job.

    Declares the metrics queue: publishes are `mandatory`, so an API process that finishes
    a job inline before any metrics worker has started must still find the queue.
    """
    await ctx.broker.declare([Queue.METRICS.value])
    sink = create_sink(ctx.settings.timescale, role=ctx.role)
    ctx.metrics = sink
    ctx.on_close(sink.close)
    install_outbox(ctx)
    install_publisher(ctx)
    return sink


async def open_metrics(ctx: Context) -> None:
    """Migrate and connect the sink now; on failure log and leave it to open on first use."""
    if ctx.metrics is None:
        return
    try:
        await ctx.metrics.open()
    except Exception as exc:
        log.warning("metrics database not ready at start-up; will retry on use",
                    extra={"error": f"{type(exc).__name__}: {exc}"})


def metrics_sink(ctx: Context) -> MetricsSink:
    if ctx.metrics is None:
        raise RuntimeError("metrics sink not installed (services.metrics.setup.install_metrics)")
    return ctx.metrics


def pool_prefetch(settings: TimescaleSettings) -> int:
    """Messages the metrics pool holds: about two DB batches of events (one filling while
    the previous commits) when producers send full envelopes; 5,000 / 500 gives 20."""
    return max(MIN_PREFETCH, math.ceil(2 * settings.batch_size / settings.outbox_max_events))


def metrics_batcher(ctx: Context) -> Batcher:
    """The process's batcher, made on first use and flushed when the Context closes."""
    batcher: Batcher | None = ctx.extras.get("metrics_batcher")
    if batcher is None:
        settings = ctx.settings.timescale
        batcher = Batcher(
            metrics_sink(ctx), max_size=settings.batch_size, max_age_s=settings.batch_max_age_s,
            retry_max_s=settings.flush_retry_max_s, max_waiting=pool_prefetch(settings),
        )
        ctx.extras["metrics_batcher"] = batcher
        ctx.on_close(batcher.close)
    return batcher
