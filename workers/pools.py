"""Named worker pools: which queues `python index.py worker --pool NAME` consumes.

A domain adds its pool to POOLS: a function from the Context to its consumers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from services.broker.queues import Queue, dead_letter_queue
from services.metrics.setup import open_metrics
from workers.handlers import jobs, metrics, webhooks
from workers.runner import Consumer

if TYPE_CHECKING:
    from services.context import Context

PoolBuilder = Callable[["Context"], list[Consumer]]


def _job_pool(queue: Queue) -> PoolBuilder:
    def build(ctx: Context) -> list[Consumer]:
        return [
            Consumer(queue.value, jobs.handle, ctx.settings.jobs.concurrency),
            Consumer(dead_letter_queue(queue.value), jobs.handle_dead, 10),
        ]

    return build


def _metrics_pool(ctx: Context) -> list[Consumer]:
    # Migrate at start-up (run_worker runs worker_hooks); its dead letters wait for replay.
    ctx.extras.setdefault("worker_hooks", []).append(open_metrics)
    return [Consumer(Queue.METRICS.value, metrics.handle, metrics.prefetch(ctx))]


def _webhooks_pool(ctx: Context) -> list[Consumer]:
    # Deliveries mostly wait on receivers, so in-flight count, not CPU, is the limit.
    return [
        Consumer(Queue.WEBHOOKS.value, webhooks.handle, ctx.settings.webhooks.concurrency),
        Consumer(dead_letter_queue(Queue.WEBHOOKS.value), webhooks.handle_dead, 10),
    ]


POOLS: dict[str, PoolBuilder] = {
    "model": _job_pool(Queue.MODEL),
    "chatbot": _job_pool(Queue.CHATBOT),
    "rag": _job_pool(Queue.RAG),
    "metrics": _metrics_pool,
    "webhooks": _webhooks_pool,
}


def consumers_for(ctx: Context, pools: list[str]) -> list[Consumer]:
    out: list[Consumer] = []
    for pool in pools:
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; known: {', '.join(POOLS)}")
        out += POOLS[pool](ctx)
    return out
