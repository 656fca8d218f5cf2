"""The scheduler: the job lifecycle's Admission (services/jobs/admission.py).

Fair shares. Each kind has per-org, per-priority FIFO sub-queues (FairQueue) in front of its
RabbitMQ queue. Submit records the job and parks it there (one Lua script on Redis, with
the submit's own dispatch round: one round trip); dispatch rounds (the API right after a
submit, and a loop in every worker) move jobs into RabbitMQ by weighted deficit round robin,
in packs of `dispatch_pack` a message (services/jobs/messages.py), only while fewer than
the window (`dispatch_ahead`, or `dispatch_ahead_s` of the kind's start rate) of dispatched
jobs wait to start. We chose this over one RabbitMQ queue per org because queues per org
need every worker to discover and consume new queues, and RabbitMQ's round robin over
consumers is neither weighted nor priority aware; over x-max-priority because that only
orders one org's jobs (and quorum queues on RabbitMQ 3.10 do not support it). The bound it
gives: a job of an org that becomes active waits for at most the window of jobs already
dispatched plus, per round, one quantum of each other active org, i.e. about
`(dispatch_ahead + orgs) / start rate` seconds, or `dispatch_ahead_s` when the rate makes
the window larger, whatever the other orgs' backlog. Within an org, `high` jobs leave
before `normal`, `normal` before `low`.

Crash recovery. A dispatch round claims the jobs it takes (FairQueue.pick moves them from
their org lists to this dispatcher's claims in one Lua step) and drops each claim once
RabbitMQ confirmed its publish. A dispatcher that dies in between leaves claims behind;
every dispatch loop sweeps, every `sweep_interval_s`, for claims older than `claim_lease_s`
whose owner has not been seen for as long, and publishes them again.

Capacity. Before a delivered job starts, it reserves its provider call (Capacity); a slot
in the future sends the message back to RabbitMQ through a delay queue for that long,
with the reservation kept on the job (`meta.schedule`), so it runs on its return and no
worker is held meanwhile. A job that cannot start within its `max_queue_s` fails with
`queue_timeout`; a 429 gives the attempt back and waits for a new slot.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from typing import Any

from config import SchedulingSettings
from services.broker.base import Broker
from services.broker.queues import job_queue
from services.jobs.admission import RUN_NOW, Admit, Held
from services.jobs.messages import outgoing
from services.jobs.model import Job, JobStatus
from services.jobs.store import JobStore
from services.scheduling.capacity import Capacity
from services.scheduling.store import PRIORITIES, FairQueue, Picked

log = logging.getLogger(__name__)
# A slot this close is slept out in process; a farther one goes round a delay queue that
# returns the job RETURN_EARLY_S ahead of its slot. A delay-queue hop ran late on the shared
# 2-core machine by 0.14 s (median), 0.35 s (p90), up to 0.9 s in the burst at the start:
# jobs that started whenever they came back bunched up and overran the provider's window
# (19 of 150 refused), and with 0.4 s early 10-20 of 150 came back past LATE_S and each
# lost its slot (efficiency 0.87). 0.8 s early costs ~0.8 s of a worker slot per job (12 of
# 50 at 15 starts/s) and left none late in the benchmark.
NEAR_S = 1.0
RETURN_EARLY_S = 0.8
EARLY_S = 0.002
# A job back later than this after its slot lost it (starting now would bunch with the jobs
# on the next slots): it reserves a new one. First use of a delay queue (its declare under
# load) made whole groups of jobs ~2 s late.
LATE_S = 0.25
PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items()}
# Rounds of one dispatch loop whose publishes may await their confirms at once.
MAX_ROUNDS_PUBLISHING = 4
# At close, how long a loop waits for its rounds' confirms (inside close's 5 s): one not
# confirmed by then leaves its claims to another dispatcher's sweep.
PUBLISH_GRACE_S = 4.0


def dispatcher_id() -> str:
    """Unique per process start: a restarted process never inherits its old claims' lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def delay_step_s(wait_s: float) -> float:
    """Round a wait down to a coarse step: each distinct delay is a RabbitMQ queue of its own,
    so waits share ~60 queues instead of one per millisecond."""
    for limit, step in ((1.0, 0.05), (10.0, 0.5), (60.0, 5.0)):
        if wait_s < limit:
            return math.floor(wait_s / step) * step
    return math.floor(wait_s / 30.0) * 30.0


async def _until_slot(wait_s: float) -> Admit:
    """Sleep a near slot out here; send a far one round a delay queue, back a little early."""
    if wait_s >= NEAR_S:
        return Admit(wait_s=max(delay_step_s(wait_s - RETURN_EARLY_S), 0.05))
    if wait_s > EARLY_S:
        await asyncio.sleep(wait_s)
    return RUN_NOW


class Scheduler:
    def __init__(self, capacity: Capacity, queue: FairQueue, broker: Broker, jobs: JobStore,
                 settings: SchedulingSettings) -> None:
        self.capacity = capacity
        self.queue = queue
        self.broker = broker
        self.jobs = jobs
        self.settings = settings
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False
        self.owner = dispatcher_id()
        # Per kind, the rounds of this loop tick's submits waiting for their one publish.
        self._tick: dict[str, list[tuple[list[Picked], asyncio.Future[set[str]]]]] = {}
        self._tick_publishes: set[asyncio.Future[tuple[int, set[str]]]] = set()

    # -- submit and dispatch -------------------------------------------------------------

    def weight(self, org_id: str) -> float:
        return float(self.settings.org_weights.get(org_id, 1.0))

    @staticmethod
    def share(job: Job) -> str:
        """The fair-share key: the org, or `<org>/batch` for its batch jobs."""
        share = job.meta.get("share")
        return share if isinstance(share, str) else job.org_id

    @staticmethod
    def priority(job: Job) -> int:
        return PRIORITIES.get(str(job.meta.get("priority") or "normal"), 1)

    async def hold(self, job: Job, *, body_hash: str | None = None) -> Held | None:
        if not self.settings.fair_share:
            return None
        share = self.share(job)
        # One step records the job, parks it and runs this submit's dispatch round.
        created, picked = await self.queue.hold(
            job, body_hash=body_hash, org_id=share, priority=self.priority(job), weight=self.weight(share),
            owner=self.owner, now=time.time(), ahead=self.settings.dispatch_ahead,
            stale_s=self.settings.dispatched_stale_s, limit=self.settings.dispatch_ahead,
            ahead_s=self.settings.dispatch_ahead_s)
        failed = await self._publish_with_tick(job.kind, picked)
        # Its own publish failed: the submit fails (503) as without fair shares. The held copy
        # is harmless: dispatched later, it is skipped as finished.
        return Held(created, queued=job.id not in failed)

    async def _publish_with_tick(self, kind: str, picked: list[Picked]) -> set[str]:
        """Publish what a submit's round picked together with the rounds of every other submit
        of this loop tick: one broker call, their jobs in packs. Returns the ids whose publish
        failed. An API process at ~1,000 submits/s finishes a few to a few dozen holds per
        tick (their scripts come back in one batched reply); one message each cost RabbitMQ
        ~0.15-0.45 ms and the worker ~0.1 ms of CPU a job, and end to end ran at ~1,000
        jobs/s, ~2,000 with this. The publish is not the submit's own task: a client gone
        meanwhile does not cancel its pack-mates' publish."""
        if not picked:
            return set()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[set[str]] = loop.create_future()
        waiting = self._tick.setdefault(kind, [])
        if not waiting:
            loop.call_soon(self._publish_tick, kind)
        waiting.append((picked, done))
        return await done

    def _publish_tick(self, kind: str) -> None:
        waiting = self._tick.pop(kind, [])
        def settle(published: asyncio.Future[tuple[int, set[str]]]) -> None:
            error = None if published.cancelled() else published.exception()
            for _, done in waiting:
                if done.done():
                    continue  # its submit went away
                if published.cancelled():
                    done.cancel()
                elif error is not None:
                    done.set_exception(error)
                else:
                    done.set_result(published.result()[1])

        jobs = [p for picked, _ in waiting for p in picked]
        self._tick_publishes.add(task := asyncio.create_task(self._publish_claimed(kind, jobs)))
        task.add_done_callback(self._tick_publishes.discard)
        task.add_done_callback(settle)

    async def dispatch(self, kind: str) -> int:
        """One round: move what fits into RabbitMQ, in fair order. Returns how many moved."""
        moved, _ = await self._dispatch(kind)
        return moved

    async def _dispatch(self, kind: str) -> tuple[int, set[str]]:
        """(jobs moved, ids whose publish failed: they are back at the front of their lists)."""
        return await self._publish_claimed(kind, await self._pick(kind))

    async def _pick(self, kind: str) -> list[Picked]:
        return await self.queue.pick(kind, owner=self.owner, now=time.time(),
                                     ahead=self.settings.dispatch_ahead,
                                     ahead_s=self.settings.dispatch_ahead_s,
                                     stale_s=self.settings.dispatched_stale_s,
                                     limit=self.settings.dispatch_ahead)

    async def _publish_claimed(self, kind: str, picked: list[Picked]) -> tuple[int, set[str]]:
        if not picked:
            return 0, set()
        # One broker call for the round: one write and one wait for all the confirms; the
        # round's jobs in packs of `dispatch_pack` a message.
        size = self.settings.dispatch_pack
        packs = [picked[i:i + size] for i in range(0, len(picked), size)]
        outcomes = await self.broker.publish_each(job_queue(kind), [
            outgoing(kind, [(p.job_id, p.org_id.removesuffix("/batch")) for p in pack]) for pack in packs])
        failed = [p for pack, outcome in zip(packs, outcomes, strict=True) if outcome is not None for p in pack]
        await self.queue.confirm(kind, [p.job_id for p in picked if p not in failed])
        if failed:
            log.warning("dispatch could not publish; jobs stay held", extra={"count": len(failed)})
            await self.queue.restore(kind, failed, {p.org_id: self.weight(p.org_id) for p in failed})
        return len(picked) - len(failed), {p.job_id for p in failed}

    async def recover(self, kind: str) -> int:
        """Publish again the jobs a dead dispatcher claimed. Returns how many were published.

        Publishing a job twice is harmless: the lifecycle's compare-and-set start and finish
        skip a job that already ran, so it completes once. A claim whose job already left
        `queued`, or was delivered once (its capacity ticket is set), was published before
        its owner died: it is dropped without a second message, so no provider is called twice.
        """
        claims = await self.queue.sweep(kind, owner=self.owner, now=time.time(),
                                        lease_s=self.settings.claim_lease_s, limit=self.settings.dispatch_ahead)
        if not claims:
            return 0
        jobs = await asyncio.gather(*(self.jobs.get(c.job_id) for c in claims))
        pending = [c for c, j in zip(claims, jobs, strict=True)
                   if j is not None and j.status is JobStatus.QUEUED and "schedule" not in j.meta]
        await self.queue.confirm(kind, [c.job_id for c in claims if c not in pending])
        moved, _ = await self._publish_claimed(kind, pending)
        log.warning("re-published jobs claimed by a dispatcher that is gone",
                    extra={"kind": kind, "claims": len(claims), "published": moved})
        return moved

    def start_dispatching(self, kinds: list[str]) -> None:
        """Dispatch rounds for `kinds` in this process until `close`."""
        if self.settings.fair_share:
            self._loops += [asyncio.create_task(self._dispatch_loop(k), name=f"dispatch-{k}") for k in kinds]

    async def _dispatch_loop(self, kind: str) -> None:
        # Not only cancellation stops it: a cancel landing inside a publish can be absorbed
        # by the broker client's own shielding, and the loop must still end at close.
        #
        # A round's publishes are confirmed in the background while the next round picks:
        # picked jobs count as dispatched at once, so `dispatch_ahead` bounds them either
        # way, and a round no longer waits on the broker's confirms (tens of ms on a busy
        # worker, when 200 jobs ahead last a worker starting 1,500 jobs/s ~130 ms).
        next_sweep = 0.0
        publishing: set[asyncio.Task[tuple[int, set[str]]]] = set()
        try:
            while not self._closing:
                try:
                    if time.monotonic() >= next_sweep:
                        next_sweep = time.monotonic() + self.settings.sweep_interval_s
                        await self.recover(kind)
                    picked = await self._pick(kind)
                except Exception as exc:
                    log.warning("dispatch round failed: %s", type(exc).__name__)
                    await asyncio.sleep(1.0)
                    continue
                if picked:
                    task = asyncio.create_task(self._publish_claimed(kind, picked))
                    publishing.add(task)
                    task.add_done_callback(self._published)
                    task.add_done_callback(publishing.discard)
                if len(publishing) >= MAX_ROUNDS_PUBLISHING:
                    await asyncio.wait(publishing, return_when=asyncio.FIRST_COMPLETED)
                elif len(picked) < self.settings.dispatch_ahead:
                    await asyncio.sleep(self.settings.dispatch_interval_s)
        finally:
            if publishing:
                await asyncio.wait(publishing, timeout=PUBLISH_GRACE_S)

    @staticmethod
    def _published(task: asyncio.Task[tuple[int, set[str]]]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("dispatch round failed: %s", type(task.exception()).__name__)

    async def close(self) -> None:
        self._closing = True
        loops, self._loops = self._loops, []
        for task in loops:
            task.cancel()
        if loops:
            # A round in flight ends within a publish timeout; never wait on it forever.
            _, stuck = await asyncio.wait(loops, timeout=5.0)
            if stuck:
                log.warning("dispatch loops still running at close", extra={"count": len(stuck)})
        if self._tick_publishes:
            # Submits' publishes: one not confirmed by then leaves its claims to a sweep.
            await asyncio.wait(set(self._tick_publishes), timeout=PUBLISH_GRACE_S)

    # -- at delivery ---------------------------------------------------------------------

    def max_queue_s(self, job: Job) -> float:
        value = job.meta.get("max_queue_s")
        return float(value) if isinstance(value, int | float) and value > 0 else self.settings.max_queue_s

    async def admit(self, job: Job) -> Admit:
        now = time.time()
        ticket = job.meta.get("schedule")
        if isinstance(ticket, dict) and ticket.get("attempts") == job.attempts:
            left = float(ticket.get("not_before", 0)) - now
            if left >= -LATE_S:
                return await _until_slot(left)
        budget = self.max_queue_s(job)
        if job.started_at is None:
            budget -= now - job.created_at
            if budget <= 0:
                return Admit(timeout=True)
        wait = await self.capacity.reserve(job.org_id, job.request, max_wait_s=budget)
        if wait is None:
            return Admit(timeout=True) if job.started_at is None else Admit(wait_s=delay_step_s(budget))
        if wait >= NEAR_S:
            await self._ticket(job, now + wait, job.attempts)
        return await _until_slot(wait)

    async def throttled(self, job: Job) -> float:
        now = time.time()
        wait = await self.capacity.reserve(job.org_id, job.request, max_wait_s=self.settings.max_queue_s)
        wait = wait if wait is not None else self.settings.max_queue_s
        # `job` is already back in the queue with its attempt given back.
        await self._ticket(job, now + wait, job.attempts)
        return max(delay_step_s(wait), NEAR_S)

    async def _ticket(self, job: Job, not_before: float, attempts: int) -> None:
        await self.jobs.update_meta(job.id, {"schedule": {
            "not_before": round(not_before, 3), "attempts": attempts, "reason": "capacity"}})

    async def started(self, job: Job) -> None:
        await self.queue.started(job.kind, job.id, time.time())

    # -- visibility ------------------------------------------------------------------------

    async def describe(self, job: Job) -> dict[str, Any] | None:
        if job.status not in (JobStatus.QUEUED, JobStatus.RETRYING):
            return None
        now = time.time()
        out: dict[str, Any] = {"priority": PRIORITY_NAMES[self.priority(job)]}
        if job.meta.get("routing") == "provider":
            # In a provider's batch (provider_batches.py): no queue position of ours.
            return {**out, "position": None, "reason": "provider_batch", "expected_start_at": None}
        ticket = job.meta.get("schedule")
        if isinstance(ticket, dict) and ticket.get("attempts") == job.attempts \
                and float(ticket.get("not_before", 0)) > now:
            return {**out, "position": 0, "reason": "capacity",
                    "expected_start_at": float(ticket["not_before"])}
        place = await self.queue.place(job.kind, self.share(job), self.priority(job), job.id, now)
        if place.held:
            ahead = place.higher + place.same + place.others + place.dispatched
            reason = "priority" if place.higher else "fair_share"
        else:
            ahead, reason = place.dispatched, "worker"
        expected = now + ahead / place.rate if place.rate > 0 else None
        return {**out, "position": ahead, "reason": reason, "expected_start_at": expected}
