"""What happens when a job ends: listeners registered at start-up are told, in order.

Whoever finishes a job (a worker, or the API on the inline path) calls `job_finished`.
The metrics publisher and the webhook dispatcher register themselves here, so the job
pipeline does not need to know about either.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from services.jobs.model import Job
from services.observability.prom import JOBS

if TYPE_CHECKING:
    from services.context import Context

Listener = Callable[["Context", Job], Awaitable[None]]
log = logging.getLogger(__name__)


def add_listener(ctx: Context, listener: Listener) -> None:
    ctx.extras.setdefault("job_listeners", []).append(listener)


async def job_finished(ctx: Context, job: Job) -> None:
    """Tell every listener; a listener's failure is raised so the caller can retry delivery."""
    JOBS.labels(job.kind.value, job.status.value).inc()
    for listener in ctx.extras.get("job_listeners", []):
        await listener(ctx, job)
