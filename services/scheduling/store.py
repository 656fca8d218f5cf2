"""The scheduler's two ports: provider capacity and the fair-share sub-queues.

Adapters: `memory_store` (one process: `make run`, unit tests) and `redis_store` (Lua, so
every API and worker process shares one view atomically). `tests/services/scheduling`
runs one contract suite against both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from services.jobs.model import Job
from services.jobs.store import Created

# Priorities inside an org: lower serves first.
PRIORITIES = {"high": 0, "normal": 1, "low": 2}
# The start rate behind the dispatch window: starts counted in buckets of 0.1 s, the rate
# the highest over the last 2..RATE_BUCKETS whole buckets. Counted per second, the window
# shrank at the first second boundary after a worker began: a second holding 0.4 s of its
# starts read as 0.4 of its rate. Two buckets at least: one 0.1 s bucket holds a handful of
# packs and overstates the rate.
RATE_BUCKETS_PER_S = 10
RATE_BUCKETS = 10
MIN_RATE_BUCKETS = 2


def rate_bucket(now: float) -> int:
    return math.floor(now * RATE_BUCKETS_PER_S)


def dispatch_window(ahead: int, ahead_s: float, recent: list[int]) -> int:
    """How many dispatched-but-not-started jobs a kind may have: `ahead`, or `ahead_s`
    seconds of its start rate when that is more. `recent`: the starts in the last
    RATE_BUCKETS whole buckets, the latest first (the Lua in redis_store computes the same)."""
    if ahead_s <= 0:
        return ahead
    rate = 0.0
    total = 0
    for k, count in enumerate(recent[:RATE_BUCKETS], start=1):
        total += count
        if k >= MIN_RATE_BUCKETS:
            rate = max(rate, total * RATE_BUCKETS_PER_S / k)
    return max(ahead, math.floor(rate * ahead_s))


@dataclass(frozen=True, slots=True)
class Limits:
    """Per window: requests and tokens (0: unlimited)."""

    requests: float = 0.0
    tokens: float = 0.0


@dataclass(frozen=True, slots=True)
class Learnt:
    """What one provider answer taught: new limits, a blocked period, a 429's throttle."""

    limit_requests: float | None = None
    limit_tokens: float | None = None
    blocked_until: float = 0.0
    # A 429: multiply the learnt request limit by this (configured limit when none learnt).
    throttle: float | None = None


class CapacityStore(Protocol):
    async def reserve(self, key: str, configured: Limits, *, tokens: float, now: float,
                      window_s: float, headroom: float, max_wait_s: float) -> float | None:
        """Reserve one request of `tokens` at the earliest instant it fits (GCRA on requests
        and on tokens, under the tighter of the configured and the learnt limit, never
        before a provider's block ends). Returns the wait in seconds, or None (nothing
        reserved) when that instant is more than `max_wait_s` away."""
        ...

    async def learn(self, key: str, learnt: Learnt, configured: Limits) -> None: ...

    async def limits(self, key: str) -> Limits:
        """The learnt limits (0: none learnt)."""
        ...


@dataclass(frozen=True, slots=True)
class Picked:
    job_id: str
    org_id: str
    priority: int


@dataclass(frozen=True, slots=True)
class Place:
    """A held job's place: jobs of its own org ahead of it (higher priority, same priority),
    an estimate of other orgs' jobs dispatched before it, jobs already dispatched, and the
    kind's recent start rate (jobs/s)."""

    held: bool
    higher: int
    same: int
    others: int
    dispatched: int
    rate: float


class FairQueue(Protocol):
    """Per kind, per org, per priority FIFO lists of job ids, dispatched by weighted deficit
    round robin; a set of dispatched-but-not-started ids bounds what sits in RabbitMQ.

    A pick is a claim: each job taken moves, in the same atomic step, to the claims of the
    dispatcher (`owner`) that took it, and leaves them when its publish is confirmed
    (`confirm`) or failed (`restore`). A dispatcher that dies in between leaves its claims
    behind; `sweep` hands those of an owner not seen for a lease to another dispatcher.
    Every pick and sweep tells the store its owner is alive."""

    async def push(self, kind: str, org_id: str, priority: int, job_id: str, weight: float) -> None: ...

    async def hold(self, job: Job, *, body_hash: str | None, org_id: str, priority: int, weight: float,
                   owner: str, now: float, ahead: int, stale_s: float, limit: int,
                   ahead_s: float = 0.0) -> tuple[Created, list[Picked]]:
        """Submit in one atomic step: record the job in the job store, push it (under `org_id`,
        its fair-share key) and run a pick. An Idempotency-Key seen before records, pushes
        and picks nothing: the earlier job comes back, not created."""
        ...

    async def pick(self, kind: str, *, owner: str, now: float, ahead: int, stale_s: float,
                   limit: int, ahead_s: float = 0.0) -> list[Picked]:
        """Up to the window (`dispatch_window` of `ahead`, `ahead_s` and the kind's starts)
        minus the dispatched count, at most `limit`, in DRR order; marks them dispatched and
        claimed by `owner`."""
        ...

    async def confirm(self, kind: str, job_ids: list[str]) -> None:
        """Their publish was confirmed: drop their claims."""
        ...

    async def restore(self, kind: str, picked: list[Picked], weights: dict[str, float]) -> None:
        """Put back jobs whose publish failed, at the front of their lists (claims dropped)."""
        ...

    async def sweep(self, kind: str, *, owner: str, now: float, lease_s: float, limit: int) -> list[Picked]:
        """Claims older than `lease_s` whose owner was last seen more than `lease_s` ago, now
        claimed by `owner` (at most `limit`): the caller publishes them and confirms."""
        ...

    async def started(self, kind: str, job_id: str, now: float) -> None: ...

    async def place(self, kind: str, org_id: str, priority: int, job_id: str, now: float) -> Place: ...

    async def backlog(self, kind: str) -> int: ...


class BatchStore(Protocol):
    """Batch records, their jobs (job id, custom id) in submit order, and finish counters."""

    async def create(self, batch: dict[str, Any]) -> None: ...

    async def add_jobs(self, batch_id: str, jobs: list[tuple[str, str]]) -> None: ...

    async def get(self, batch_id: str) -> dict[str, Any] | None:
        """The record with `counts` (succeeded, failed, cancelled)."""
        ...

    async def set_status(self, batch_id: str, status: str) -> None: ...

    async def count(self, batch_id: str, status: str) -> None: ...

    async def jobs(self, batch_id: str) -> list[tuple[str, str]]: ...

    async def put_file(self, file_id: str, org_id: str, content: bytes) -> None:
        """An uploaded batch input file (OpenAI's /v1/files)."""
        ...

    async def get_file(self, file_id: str, org_id: str) -> bytes | None: ...

    async def put_provider_batch(self, batch_id: str, index: int, entry: dict[str, Any]) -> None:
        """Record (or update) the batch's `index`-th provider batch; the batch is then open
        (polled) until `close`."""
        ...

    async def provider_batches(self, batch_id: str) -> list[dict[str, Any]]:
        """Its provider batches, in index order."""
        ...

    async def open_batches(self) -> list[str]: ...

    async def close(self, batch_id: str) -> None:
        """Every provider batch of it has been read: stop polling it."""
        ...

    async def lease(self, batch_id: str, owner: str, ttl_s: float) -> bool:
        """Take the batch's poll lease for `ttl_s` (True), unless another owner holds it."""
        ...
