"""What happens when a job ends: the listeners the composition root hands the lifecycle.

Whoever finishes a job (a worker, or the API on the inline path) goes through the lifecycle,
which tells every listener in order: the metrics publisher, the webhook dispatcher, the
end-of-stream marker (and whatever a domain adds at start-up). Listeners are idempotent
on job id: a redelivered job whose finish was recorded tells them again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator

from services.jobs.model import Job
from services.observability.prom import JOBS

Listener = Callable[[Job], Awaitable[None]]


class JobListeners:
    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self._listeners = list(listeners)

    def __iter__(self) -> Iterator[Listener]:
        return iter(self._listeners)

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def finished(self, job: Job) -> None:
        """Tell every listener; a listener's failure is raised so the caller can retry delivery."""
        JOBS.labels(job.kind, job.status.value).inc()
        for listener in self._listeners:
            await listener(job)
