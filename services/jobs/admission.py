"""The lifecycle's port to the scheduler (services/scheduling implements it).

The lifecycle asks it three things: at submit, whether it holds the job for fair dispatch
(it then records the job and parks it in one atomic step, and publishes it itself); at
delivery, before the job starts, whether it may start now, must wait (capacity) or has
waited too long; and after a provider refused for rate limiting, how long to wait before
the job goes again (without counting an attempt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from services.jobs.model import Job
from services.jobs.store import Created


@dataclass(frozen=True, slots=True)
class Admit:
    """`wait_s` > 0: put the job back for that long; `timeout`: it waited past its limit."""

    wait_s: float = 0.0
    timeout: bool = False


RUN_NOW = Admit()


@dataclass(frozen=True, slots=True)
class Held:
    """A held submission: its record (or the earlier one its Idempotency-Key names), and
    False in `queued` when the hold dispatched it at once and the broker refused it."""

    created: Created
    queued: bool = True


class Admission(Protocol):
    async def hold(self, job: Job, *, body_hash: str | None = None) -> Held | None:
        """Record the new job and take it into the fair-share sub-queues, in one atomic step
        (an Idempotency-Key seen before records and holds nothing); None: the scheduler does
        not hold jobs, the caller records and publishes it. Raises Unavailable when the job
        could not be recorded."""
        ...

    async def admit(self, job: Job) -> Admit:
        """May this delivered job start now? Reserves provider capacity when it may."""
        ...

    async def throttled(self, job: Job) -> float:
        """The provider answered 429: the delay before the job runs again."""
        ...

    async def started(self, job: Job) -> None:
        """The job left the queue (started, or found finished)."""
        ...

    async def describe(self, job: Job) -> dict[str, Any] | None:
        """Where a queued job stands: position, reason, expected start."""
        ...
