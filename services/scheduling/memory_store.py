"""The scheduler's embedded adapters: the same algorithms as redis_store's Lua, in dicts."""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from services.jobs.model import Job
from services.jobs.store import Created, JobStore
from services.scheduling.store import RATE_BUCKETS, Learnt, Limits, Picked, Place, dispatch_window, rate_bucket

RATE_WINDOW_S = 10
# A dispatcher unseen for this many leases is forgotten (its claims were swept long before).
FORGET_LEASES = 10


@dataclass
class _Bucket:
    tat_r: float = 0.0
    tat_t: float = 0.0
    lim_r: float = 0.0
    lim_t: float = 0.0
    blocked: float = 0.0


def effective(configured: float, learnt: float, headroom: float) -> float:
    """The tighter of the configured and the learnt limit (0 = none), times the headroom."""
    if learnt > 0 and (configured <= 0 or learnt < configured):
        return learnt * headroom
    return configured * headroom


class MemoryCapacity:
    def __init__(self) -> None:
        self._b: dict[str, _Bucket] = defaultdict(_Bucket)

    async def reserve(self, key: str, configured: Limits, *, tokens: float, now: float,
                      window_s: float, headroom: float, max_wait_s: float) -> float | None:
        b = self._b[key]
        lim_r = effective(configured.requests, b.lim_r, headroom)
        lim_t = effective(configured.tokens, b.lim_t, headroom)
        start = max(now, b.blocked)
        step_r = window_s / lim_r if lim_r > 0 else 0.0
        if step_r:
            start = max(start, b.tat_r)
        inc_t = tokens * window_s / lim_t if lim_t > 0 and tokens > 0 else 0.0
        if inc_t:
            start = max(start, b.tat_t + inc_t - window_s)
        wait = start - now
        if wait > max_wait_s:
            return None
        if step_r:
            b.tat_r = max(b.tat_r, start) + step_r
        if inc_t:
            b.tat_t = max(b.tat_t, start) + inc_t
        return wait

    async def learn(self, key: str, learnt: Learnt, configured: Limits) -> None:
        b = self._b[key]
        if learnt.limit_requests is not None:
            b.lim_r = learnt.limit_requests
        if learnt.limit_tokens is not None:
            b.lim_t = learnt.limit_tokens
        if learnt.throttle is not None:
            current = b.lim_r or configured.requests
            if current > 0:
                b.lim_r = max(1.0, current * learnt.throttle)
        b.blocked = max(b.blocked, learnt.blocked_until)

    async def limits(self, key: str) -> Limits:
        b = self._b[key]
        return Limits(b.lim_r, b.lim_t)


class _Kind:
    def __init__(self) -> None:
        self.lists: dict[tuple[str, int], deque[str]] = defaultdict(deque)
        self.ring: deque[str] = deque()
        self.deficit: dict[str, float] = {}
        self.weights: dict[str, float] = {}
        self.out: dict[str, float] = {}
        # job -> (claimed at, owner, org, priority); owner -> last seen.
        self.claims: dict[str, tuple[float, str, str, int]] = {}
        self.alive: dict[str, float] = {}
        self.starts: dict[int, int] = defaultdict(int)
        # Starts per 0.1 s bucket (store.rate_bucket), for the dispatch window.
        self.buckets: dict[int, int] = defaultdict(int)

    def size(self, org: str) -> int:
        return sum(len(self.lists[(org, p)]) for p in range(3))

    def enlist(self, org: str) -> None:
        if org not in self.ring:
            self.ring.append(org)


class MemoryFairQueue:
    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs
        self._k: dict[str, _Kind] = defaultdict(_Kind)

    async def push(self, kind: str, org_id: str, priority: int, job_id: str, weight: float) -> None:
        k = self._k[kind]
        k.lists[(org_id, priority)].append(job_id)
        k.weights[org_id] = weight
        k.enlist(org_id)

    async def hold(self, job: Job, *, body_hash: str | None, org_id: str, priority: int, weight: float,
                   owner: str, now: float, ahead: int, stale_s: float, limit: int,
                   ahead_s: float = 0.0) -> tuple[Created, list[Picked]]:
        # One process: nothing else runs between the record and the push.
        created = await self._jobs.create(job, body_hash=body_hash)
        if not created.created:
            return created, []
        await self.push(job.kind, org_id, priority, job.id, weight)
        return created, await self.pick(job.kind, owner=owner, now=now, ahead=ahead, stale_s=stale_s, limit=limit,
                                        ahead_s=ahead_s)

    async def pick(self, kind: str, *, owner: str, now: float, ahead: int, stale_s: float,
                   limit: int, ahead_s: float = 0.0) -> list[Picked]:
        k = self._k[kind]
        k.alive[owner] = now
        for job_id in [j for j, t in k.out.items() if t <= now - stale_s]:
            del k.out[job_id]
        bucket = rate_bucket(now)
        window = dispatch_window(ahead, ahead_s, [k.buckets.get(bucket - i, 0) for i in range(1, RATE_BUCKETS + 1)])
        n = min(window - len(k.out), limit)
        out: list[Picked] = []
        guard = 0
        while n > 0 and k.ring and guard < 10_000:
            guard += 1
            org = k.ring[0]
            d = k.deficit.get(org, 0.0)
            if d < 1:
                d += k.weights.get(org, 1.0)
            while d >= 1 and n > 0:
                found = next((p for p in range(3) if k.lists[(org, p)]), None)
                if found is None:
                    break
                job_id = k.lists[(org, found)].popleft()
                out.append(Picked(job_id, org, found))
                k.out[job_id] = now
                k.claims[job_id] = (now, owner, org, found)
                d -= 1
                n -= 1
            if k.size(org) == 0:
                k.ring.popleft()
                k.deficit.pop(org, None)
            else:
                k.deficit[org] = d
                if d < 1:
                    k.ring.rotate(-1)
        return out

    async def confirm(self, kind: str, job_ids: list[str]) -> None:
        k = self._k[kind]
        for job_id in job_ids:
            k.claims.pop(job_id, None)

    async def restore(self, kind: str, picked: list[Picked], weights: dict[str, float]) -> None:
        k = self._k[kind]
        for p in reversed(picked):
            k.out.pop(p.job_id, None)
            k.claims.pop(p.job_id, None)
            k.lists[(p.org_id, p.priority)].appendleft(p.job_id)
            k.weights.setdefault(p.org_id, weights.get(p.org_id, 1.0))
            k.enlist(p.org_id)

    async def sweep(self, kind: str, *, owner: str, now: float, lease_s: float, limit: int) -> list[Picked]:
        k = self._k[kind]
        k.alive[owner] = now
        out: list[Picked] = []
        for job_id, (at, holder, org, priority) in sorted(k.claims.items(), key=lambda c: c[1][0]):
            if at > now - lease_s or len(out) >= limit:
                break
            if k.alive.get(holder, 0.0) >= now - lease_s:
                continue
            k.claims[job_id] = (now, owner, org, priority)
            k.out[job_id] = now
            out.append(Picked(job_id, org, priority))
        for gone in [o for o, seen in k.alive.items() if seen < now - FORGET_LEASES * lease_s]:
            del k.alive[gone]
        return out

    async def started(self, kind: str, job_id: str, now: float) -> None:
        k = self._k[kind]
        k.out.pop(job_id, None)
        second = int(now)
        k.starts[second] += 1
        bucket = rate_bucket(now)
        k.buckets[bucket] += 1
        if len(k.buckets) > 2 * RATE_BUCKETS:
            for old in [b for b in k.buckets if b <= bucket - RATE_BUCKETS]:
                del k.buckets[old]
        if len(k.starts) > 2 * RATE_WINDOW_S:
            for old in [s for s in k.starts if s < second - RATE_WINDOW_S]:
                del k.starts[old]

    async def place(self, kind: str, org_id: str, priority: int, job_id: str, now: float) -> Place:
        k = self._k[kind]
        second = int(now)
        rate = sum(k.starts.get(s, 0) for s in range(second - RATE_WINDOW_S, second)) / RATE_WINDOW_S
        mine = k.lists[(org_id, priority)]
        if job_id not in mine:
            return Place(False, 0, 0, 0, len(k.out), rate)
        higher = sum(len(k.lists[(org_id, p)]) for p in range(priority))
        same = list(mine).index(job_id)
        turns = higher + same + 1
        weight = k.weights.get(org_id, 1.0)
        others = sum(min(k.size(o), math.ceil(turns * k.weights.get(o, 1.0) / weight))
                     for o in k.ring if o != org_id)
        return Place(True, higher, same, others, len(k.out), rate)

    async def backlog(self, kind: str) -> int:
        k = self._k[kind]
        return sum(len(v) for v in k.lists.values())


class MemoryBatches:
    def __init__(self) -> None:
        self._b: dict[str, dict[str, Any]] = {}
        self._jobs: dict[str, list[tuple[str, str]]] = {}
        self._files: dict[tuple[str, str], bytes] = {}
        self._provider: dict[str, dict[int, dict[str, Any]]] = {}
        self._open: set[str] = set()
        self._leases: dict[str, tuple[str, float]] = {}

    async def create(self, batch: dict[str, Any]) -> None:
        self._b[batch["id"]] = {**batch, "counts": {"succeeded": 0, "failed": 0, "cancelled": 0}}
        self._jobs[batch["id"]] = []

    async def add_jobs(self, batch_id: str, jobs: list[tuple[str, str]]) -> None:
        self._jobs[batch_id] += jobs

    async def get(self, batch_id: str) -> dict[str, Any] | None:
        found = self._b.get(batch_id)
        return None if found is None else {**found, "counts": dict(found["counts"])}

    async def set_status(self, batch_id: str, status: str) -> None:
        if batch_id in self._b:
            self._b[batch_id]["status"] = status

    async def count(self, batch_id: str, status: str) -> None:
        if batch_id in self._b:
            self._b[batch_id]["counts"][status] = self._b[batch_id]["counts"].get(status, 0) + 1

    async def jobs(self, batch_id: str) -> list[tuple[str, str]]:
        return list(self._jobs.get(batch_id, []))

    async def put_file(self, file_id: str, org_id: str, content: bytes) -> None:
        self._files[(org_id, file_id)] = content

    async def get_file(self, file_id: str, org_id: str) -> bytes | None:
        return self._files.get((org_id, file_id))

    async def put_provider_batch(self, batch_id: str, index: int, entry: dict[str, Any]) -> None:
        self._provider.setdefault(batch_id, {})[index] = dict(entry)
        self._open.add(batch_id)

    async def provider_batches(self, batch_id: str) -> list[dict[str, Any]]:
        found = self._provider.get(batch_id, {})
        return [dict(found[i]) for i in sorted(found)]

    async def open_batches(self) -> list[str]:
        return sorted(self._open)

    async def close(self, batch_id: str) -> None:
        self._open.discard(batch_id)

    async def lease(self, batch_id: str, owner: str, ttl_s: float) -> bool:
        now = time.monotonic()
        holder = self._leases.get(batch_id)
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self._leases[batch_id] = (owner, now + ttl_s)
        return True
