"""Named worker pools: which queues `python index.py worker --pool NAME` consumes.

Every registered job kind is a pool of its own (`model`, `chatbot`, `rag`, and any kind a
deployment adds to the executor registry); `webhooks` and `metrics` are the delivery pools.
"""

from __future__ import annotations

from collections.abc import Callable

from services.broker.queues import Queue, dead_letter_queue, job_queue
from services.context import Context
from services.metrics.runtime import pool_prefetch
from workers.handlers import jobs, metrics, webhooks
from workers.runner import Consumer

# Dead-lettered messages are rare; a few at once is plenty.
DEAD_LETTER_CONCURRENCY = 10


def _job_pool(ctx: Context, kind: str) -> list[Consumer]:
    queue = job_queue(kind)
    slots = ctx.settings.jobs.concurrency
    return [
        Consumer(queue, jobs.handler(ctx.lifecycle, broker=ctx.broker, queue=queue, slots=slots), slots),
        Consumer(dead_letter_queue(queue), jobs.dead_handler(ctx.lifecycle), DEAD_LETTER_CONCURRENCY),
    ]


def _metrics_pool(ctx: Context) -> list[Consumer]:
    return [Consumer(Queue.METRICS.value, metrics.handler(ctx.metrics.batcher),
                     pool_prefetch(ctx.settings.timescale))]


def _webhooks_pool(ctx: Context) -> list[Consumer]:
    # Deliveries mostly wait on receivers, so in-flight count, not CPU, is the limit.
    return [
        Consumer(Queue.WEBHOOKS.value, webhooks.handler(ctx.webhooks), ctx.settings.webhooks.concurrency),
        Consumer(dead_letter_queue(Queue.WEBHOOKS.value), webhooks.dead_handler(ctx.webhooks),
                 DEAD_LETTER_CONCURRENCY),
    ]


DELIVERY_POOLS: dict[str, Callable[[Context], list[Consumer]]] = {
    "metrics": _metrics_pool,
    "webhooks": _webhooks_pool,
}


def pool_names(ctx: Context) -> list[str]:
    return [*ctx.executors.kinds(), *DELIVERY_POOLS]


def consumers_for(ctx: Context, pools: list[str]) -> list[Consumer]:
    out: list[Consumer] = []
    for pool in pools:
        if pool in DELIVERY_POOLS:
            out += DELIVERY_POOLS[pool](ctx)
        elif pool in ctx.executors:
            out += _job_pool(ctx, pool)
        else:
            raise ValueError(f"unknown pool {pool!r}; known: {', '.join(pool_names(ctx))}")
    return out
