"""Named worker pools: which queues `python index.py worker --pool NAME` consumes.

A domain adds its pool to POOLS: a function from the Context to its consumers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from services.broker.queues import Queue, dead_letter_queue
from workers.handlers import jobs
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


POOLS: dict[str, PoolBuilder] = {
    "model": _job_pool(Queue.MODEL),
    "chatbot": _job_pool(Queue.CHATBOT),
    "rag": _job_pool(Queue.RAG),
}


def consumers_for(ctx: Context, pools: list[str]) -> list[Consumer]:
    out: list[Consumer] = []
    for pool in pools:
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; known: {', '.join(POOLS)}")
        out += POOLS[pool](ctx)
    return out
