"""The scheduler's Redis adapters: every decision is one Lua script, atomic across processes.

Keys (under the configured prefix): `cap:<provider>:<credential digest>:<model>` a hash
(tat_r, tat_t: GCRA theoretical arrival times; lim_r, lim_t: learnt limits; blocked);
per kind `fq:<kind>:` + `q:<org>:<priority>` lists, `ring` (orgs in DRR order) + `members`,
`deficit` and `weights` hashes, `out` (dispatched, not started: zset by time), `rate:<s>`,
`claims` (picked, publish not yet confirmed: zset by time) + `claim` (job -> [owner, org,
priority] as JSON) and `alive` (dispatcher -> last seen).

A submit is one script (HOLD): the job store's record, the push and a dispatch pick. Like
the job store's own create it touches keys outside the kind's hash tag (the job's hash, its
org index): one Redis primary is assumed, as the job store assumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import RedisError

from services.common.redis_batch import ScriptBatcher
from services.errors import Unavailable
from services.jobs.model import Job
from services.jobs.redis_lua import CREATE_JOB
from services.jobs.redis_store import RedisJobStore
from services.jobs.store import Created
from services.scheduling.store import (
    MIN_RATE_BUCKETS,
    RATE_BUCKETS,
    RATE_BUCKETS_PER_S,
    Learnt,
    Limits,
    Picked,
    Place,
    rate_bucket,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

# A learnt limit is kept a day after its last use.
CAPACITY_TTL_MS = 86_400_000
# A dispatcher unseen for this many leases is forgotten (its claims were swept long before).
FORGET_LEASES = 10

_EFFECTIVE = """
local function effective(cfg, learnt, headroom)
  if learnt and learnt > 0 and (cfg <= 0 or learnt < cfg) then return learnt * headroom end
  return cfg * headroom
end
"""

# KEYS: bucket. ARGV: now, window, cfg_r, cfg_t, tokens, headroom, max_wait.
RESERVE = _EFFECTIVE + """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens, headroom, max_wait = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local v = redis.call('HMGET', KEYS[1], 'tat_r', 'tat_t', 'lim_r', 'lim_t', 'blocked')
local tat_r, tat_t = tonumber(v[1]) or 0, tonumber(v[2]) or 0
local lim_r = effective(tonumber(ARGV[3]), tonumber(v[3]), headroom)
local lim_t = effective(tonumber(ARGV[4]), tonumber(v[4]), headroom)
local start = math.max(now, tonumber(v[5]) or 0)
local step_r = 0
if lim_r > 0 then step_r = window / lim_r; start = math.max(start, tat_r) end
local inc_t = 0
if lim_t > 0 and tokens > 0 then inc_t = tokens * window / lim_t; start = math.max(start, tat_t + inc_t - window) end
local wait = start - now
if wait > max_wait then return false end
if step_r > 0 then redis.call('HSET', KEYS[1], 'tat_r', tostring(math.max(tat_r, start) + step_r)) end
if inc_t > 0 then redis.call('HSET', KEYS[1], 'tat_t', tostring(math.max(tat_t, start) + inc_t)) end
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return tostring(wait)
"""

# KEYS: bucket. ARGV: limit_r (-1 none), limit_t (-1 none), blocked_until, throttle (0 none), cfg_r, ttl.
LEARN = """
if tonumber(ARGV[1]) >= 0 then redis.call('HSET', KEYS[1], 'lim_r', ARGV[1]) end
if tonumber(ARGV[2]) >= 0 then redis.call('HSET', KEYS[1], 'lim_t', ARGV[2]) end
local factor = tonumber(ARGV[4])
if factor > 0 then
  local cur = tonumber(redis.call('HGET', KEYS[1], 'lim_r')) or 0
  if cur <= 0 then cur = tonumber(ARGV[5]) end
  if cur > 0 then redis.call('HSET', KEYS[1], 'lim_r', tostring(math.max(1, cur * factor))) end
end
local blocked = tonumber(ARGV[3])
if blocked > (tonumber(redis.call('HGET', KEYS[1], 'blocked')) or 0) then
  redis.call('HSET', KEYS[1], 'blocked', ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
"""

_SIZE = """
local function size(prefix, org)
  return redis.call('LLEN', prefix .. 'q:' .. org .. ':0') + redis.call('LLEN', prefix .. 'q:' .. org .. ':1')
    + redis.call('LLEN', prefix .. 'q:' .. org .. ':2')
end
local function enlist(prefix, org)
  if redis.call('SADD', prefix .. 'members', org) == 1 then redis.call('RPUSH', prefix .. 'ring', org) end
end
"""

_PUSH_PICK = _SIZE + """
local function window(p, now, ahead, ahead_s)
  if ahead_s <= 0 then return ahead end
  local bucket = math.floor(now * """ + str(RATE_BUCKETS_PER_S) + """)
  local rate, total = 0, 0
  for k = 1, """ + str(RATE_BUCKETS) + """ do
    total = total + (tonumber(redis.call('GET', p .. 'starts:' .. (bucket - k))) or 0)
    if k >= """ + str(MIN_RATE_BUCKETS) + """ then
      rate = math.max(rate, total * """ + str(RATE_BUCKETS_PER_S) + """ / k)
    end
  end
  return math.max(ahead, math.floor(rate * ahead_s))
end
local function push(p, org, priority, job, weight)
  redis.call('RPUSH', p .. 'q:' .. org .. ':' .. priority, job)
  redis.call('HSET', p .. 'weights', org, weight)
  enlist(p, org)
end
local function pick(p, now_arg, ahead, ahead_s, stale_s, limit, owner)
  local now = tonumber(now_arg)
  redis.call('HSET', p .. 'alive', owner, now_arg)
  redis.call('ZREMRANGEBYSCORE', p .. 'out', '-inf', now - tonumber(stale_s))
  local n = math.min(window(p, now, tonumber(ahead), tonumber(ahead_s)) - redis.call('ZCARD', p .. 'out'),
                     tonumber(limit))
  local out = {}
  local guard = 0
  while n > 0 and guard < 10000 do
    guard = guard + 1
    local org = redis.call('LINDEX', p .. 'ring', 0)
    if not org then break end
    local d = tonumber(redis.call('HGET', p .. 'deficit', org)) or 0
    if d < 1 then d = d + (tonumber(redis.call('HGET', p .. 'weights', org)) or 1) end
    while d >= 1 and n > 0 do
      local id, pr = nil, nil
      for q = 0, 2 do
        id = redis.call('LPOP', p .. 'q:' .. org .. ':' .. q)
        if id then pr = q break end
      end
      if not id then break end
      out[#out + 1] = id; out[#out + 1] = org; out[#out + 1] = tostring(pr)
      redis.call('ZADD', p .. 'out', now, id)
      redis.call('ZADD', p .. 'claims', now, id)
      redis.call('HSET', p .. 'claim', id, cjson.encode({owner, org, pr}))
      d = d - 1; n = n - 1
    end
    if size(p, org) == 0 then
      redis.call('LPOP', p .. 'ring'); redis.call('SREM', p .. 'members', org); redis.call('HDEL', p .. 'deficit', org)
    else
      redis.call('HSET', p .. 'deficit', org, tostring(d))
      if d < 1 then redis.call('LMOVE', p .. 'ring', p .. 'ring', 'LEFT', 'RIGHT') end
    end
  end
  return out
end
"""

# ARGV: prefix, org, priority, job, weight.
PUSH = _PUSH_PICK + """
push(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
"""

# ARGV: prefix, now, ahead, ahead_s, stale_s, limit, owner. Returns a flat list job, org, priority, ...
PICK = _PUSH_PICK + """
return pick(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
"""

# A submit in one round trip: record the job (the job store's create_job), push it, pick.
# KEYS: create_job's. ARGV: prefix, org, priority, weight, now, ahead, ahead_s, stale_s, limit,
# owner, then create_job's arguments (the 14th is the job id). Returns {the earlier
# submission's idempotency value} when its key was seen (nothing recorded, pushed or picked),
# else {'', job, org, priority, ...}: the pick.
HOLD = CREATE_JOB + _PUSH_PICK + """
local seen = create_job(KEYS, ARGV, 11)
if seen then return {seen} end
push(ARGV[1], ARGV[2], ARGV[3], ARGV[14], ARGV[4])
local out = pick(ARGV[1], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
table.insert(out, 1, '')
return out
"""

# ARGV: prefix, then job, org, priority, weight per job (in pick order).
RESTORE = _SIZE + """
local p = ARGV[1]
for i = #ARGV - 3, 2, -4 do
  redis.call('ZREM', p .. 'out', ARGV[i])
  redis.call('ZREM', p .. 'claims', ARGV[i])
  redis.call('HDEL', p .. 'claim', ARGV[i])
  redis.call('LPUSH', p .. 'q:' .. ARGV[i + 1] .. ':' .. ARGV[i + 2], ARGV[i])
  redis.call('HSETNX', p .. 'weights', ARGV[i + 1], ARGV[i + 3])
  enlist(p, ARGV[i + 1])
end
return 1
"""

# ARGV: prefix, then the jobs whose publish was confirmed.
CONFIRM = """
for i = 2, #ARGV do
  redis.call('ZREM', ARGV[1] .. 'claims', ARGV[i])
  redis.call('HDEL', ARGV[1] .. 'claim', ARGV[i])
end
return 1
"""

# ARGV: prefix, now, lease, owner, limit, forget. Returns a flat list job, org, priority, ...
SWEEP = """
local p, now, lease, owner = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('HSET', p .. 'alive', owner, ARGV[2])
local out = {}
local n = tonumber(ARGV[5])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'claims', '-inf', now - lease)) do
  if n <= 0 then break end
  local raw = redis.call('HGET', p .. 'claim', id)
  if not raw then
    redis.call('ZREM', p .. 'claims', id)
  else
    local c = cjson.decode(raw)
    if (tonumber(redis.call('HGET', p .. 'alive', c[1])) or 0) < now - lease then
      redis.call('ZADD', p .. 'claims', now, id)
      redis.call('HSET', p .. 'claim', id, cjson.encode({owner, c[2], c[3]}))
      redis.call('ZADD', p .. 'out', now, id)
      out[#out + 1] = id; out[#out + 1] = c[2]; out[#out + 1] = tostring(c[3])
      n = n - 1
    end
  end
end
local seen = redis.call('HGETALL', p .. 'alive')
for i = 1, #seen, 2 do
  if tonumber(seen[i + 1]) < now - tonumber(ARGV[6]) * lease then redis.call('HDEL', p .. 'alive', seen[i]) end
end
return out
"""

# ARGV: prefix, job, second.
STARTED = """
redis.call('ZREM', ARGV[1] .. 'out', ARGV[2])
local key = ARGV[1] .. 'rate:' .. ARGV[3]
redis.call('INCR', key)
redis.call('EXPIRE', key, 30)
local bucket = ARGV[1] .. 'starts:' .. ARGV[4]
redis.call('INCR', bucket)
redis.call('EXPIRE', bucket, 5)
return 1
"""

# ARGV: prefix, org, priority, job, second. Returns held, higher, same, others, dispatched, starts(10 s).
PLACE = _SIZE + """
local p, org, pr, sec = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[5])
local starts = 0
for s = sec - 10, sec - 1 do starts = starts + (tonumber(redis.call('GET', p .. 'rate:' .. s)) or 0) end
local dispatched = redis.call('ZCARD', p .. 'out')
local same = redis.call('LPOS', p .. 'q:' .. org .. ':' .. pr, ARGV[4])
if not same then return {0, 0, 0, 0, dispatched, starts} end
local higher = 0
for q = 0, pr - 1 do higher = higher + redis.call('LLEN', p .. 'q:' .. org .. ':' .. q) end
local turns = higher + same + 1
local w = tonumber(redis.call('HGET', p .. 'weights', org)) or 1
local others = 0
for _, o in ipairs(redis.call('LRANGE', p .. 'ring', 0, -1)) do
  if o ~= org then
    local wo = tonumber(redis.call('HGET', p .. 'weights', o)) or 1
    others = others + math.min(size(p, o), math.ceil(turns * wo / w))
  end
end
return {1, higher, same, others, dispatched, starts}
"""

BACKLOG = _SIZE + """
local total = 0
for _, o in ipairs(redis.call('LRANGE', ARGV[1] .. 'ring', 0, -1)) do total = total + size(ARGV[1], o) end
return total
"""


class RedisCapacity:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._prefix = prefix + "cap:"
        self._reserve: Any = redis.register_script(RESERVE)
        self._learn: Any = redis.register_script(LEARN)
        self._r = redis

    async def reserve(self, key: str, configured: Limits, *, tokens: float, now: float,
                      window_s: float, headroom: float, max_wait_s: float) -> float | None:
        raw = await self._reserve(keys=[self._prefix + key], args=[
            repr(now), repr(window_s), repr(configured.requests), repr(configured.tokens),
            repr(tokens), repr(headroom), repr(max_wait_s), CAPACITY_TTL_MS])
        return None if raw is None else float(raw)

    async def learn(self, key: str, learnt: Learnt, configured: Limits) -> None:
        await self._learn(keys=[self._prefix + key], args=[
            repr(learnt.limit_requests if learnt.limit_requests is not None else -1),
            repr(learnt.limit_tokens if learnt.limit_tokens is not None else -1),
            repr(learnt.blocked_until), repr(learnt.throttle or 0), repr(configured.requests),
            CAPACITY_TTL_MS])

    async def limits(self, key: str) -> Limits:
        lim_r, lim_t = await self._r.hmget(self._prefix + key, ["lim_r", "lim_t"])
        return Limits(float(lim_r or 0), float(lim_t or 0))


class RedisFairQueue:
    def __init__(self, redis: Redis, prefix: str, jobs: RedisJobStore) -> None:
        self._prefix = prefix + "fq:"
        self._jobs = jobs
        # Concurrent submits' holds and confirms share one pipeline (services/common/redis_batch.py).
        self._scripts = ScriptBatcher(redis)
        self._hold: Any = redis.register_script(HOLD)
        self._push: Any = redis.register_script(PUSH)
        self._pick: Any = redis.register_script(PICK)
        self._restore: Any = redis.register_script(RESTORE)
        self._confirm: Any = redis.register_script(CONFIRM)
        self._sweep: Any = redis.register_script(SWEEP)
        self._started: Any = redis.register_script(STARTED)
        self._place: Any = redis.register_script(PLACE)
        self._backlog: Any = redis.register_script(BACKLOG)
        self._scripts = ScriptBatcher(redis)

    def _p(self, kind: str) -> str:
        # One hash tag per kind: every key a script touches lives in one cluster slot.
        return f"{self._prefix}{{{kind}}}:"

    async def push(self, kind: str, org_id: str, priority: int, job_id: str, weight: float) -> None:
        await self._push(args=[self._p(kind), org_id, priority, job_id, repr(weight)])

    async def hold(self, job: Job, *, body_hash: str | None, org_id: str, priority: int, weight: float,
                   owner: str, now: float, ahead: int, stale_s: float, limit: int,
                   ahead_s: float = 0.0) -> tuple[Created, list[Picked]]:
        keys, record = self._jobs.create_call(job, body_hash)
        try:
            raw = await self._scripts.call(self._hold, keys, [
                self._p(job.kind), org_id, priority, repr(weight), repr(now), ahead, repr(ahead_s), repr(stale_s),
                limit, owner, *record])
        except RedisError as exc:
            raise Unavailable("job store unreachable") from exc
        if raw[0]:
            earlier = await self._jobs.replayed(job, body_hash, raw[0])
            if earlier is None:  # the earlier job expired before its key: hold this one afresh
                return await self.hold(job, body_hash=body_hash, org_id=org_id, priority=priority, weight=weight,
                                       owner=owner, now=now, ahead=ahead, stale_s=stale_s, limit=limit,
                                       ahead_s=ahead_s)
            return earlier, []
        return Created(job, created=True), _picked(raw[1:])

    async def pick(self, kind: str, *, owner: str, now: float, ahead: int, stale_s: float,
                   limit: int, ahead_s: float = 0.0) -> list[Picked]:
        return _picked(await self._pick(args=[self._p(kind), repr(now), ahead, repr(ahead_s), repr(stale_s),
                                              limit, owner]))

    async def confirm(self, kind: str, job_ids: list[str]) -> None:
        if job_ids:
            await self._scripts.call(self._confirm, [], [self._p(kind), *job_ids])

    async def sweep(self, kind: str, *, owner: str, now: float, lease_s: float, limit: int) -> list[Picked]:
        return _picked(await self._sweep(args=[self._p(kind), repr(now), repr(lease_s), owner, limit,
                                               FORGET_LEASES]))

    async def restore(self, kind: str, picked: list[Picked], weights: dict[str, float]) -> None:
        if not picked:
            return
        args: list[Any] = [self._p(kind)]
        for p in picked:
            args += [p.job_id, p.org_id, p.priority, repr(weights.get(p.org_id, 1.0))]
        await self._restore(args=args)

    async def started(self, kind: str, job_id: str, now: float) -> None:
        # Every job start calls it: the jobs starting in one tick share one call.
        await self._scripts.call(self._started, [], [self._p(kind), job_id, int(now), rate_bucket(now)])

    async def place(self, kind: str, org_id: str, priority: int, job_id: str, now: float) -> Place:
        held, higher, same, others, dispatched, starts = await self._place(
            args=[self._p(kind), org_id, priority, job_id, int(now)])
        return Place(bool(held), int(higher), int(same), int(others), int(dispatched), int(starts) / 10)

    async def backlog(self, kind: str) -> int:
        return int(await self._backlog(args=[self._p(kind)]))


def _picked(raw: list[Any]) -> list[Picked]:
    return [Picked(_s(raw[i]), _s(raw[i + 1]), int(raw[i + 2])) for i in range(0, len(raw), 3)]


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBatches:
    """`batch:<id>` hash (record JSON, status, counters), `batch:<id>:jobs` list,
    `batch:<id>:provider` hash (index -> provider batch JSON), `batch:open` set (batches
    with provider batches to poll), `batch:<id>:lease` (the poller holding it)."""

    def __init__(self, redis: Redis, prefix: str, ttl_s: int) -> None:
        self._r = redis
        self._prefix = prefix + "batch:"
        self._ttl_s = ttl_s

    async def create(self, batch: dict[str, Any]) -> None:
        key = self._prefix + batch["id"]
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"record": orjson.dumps(batch), "status": batch["status"],
                                    "succeeded": 0, "failed": 0, "cancelled": 0})
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def add_jobs(self, batch_id: str, jobs: list[tuple[str, str]]) -> None:
        key = self._prefix + batch_id + ":jobs"
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.rpush(key, *[f"{j}\t{c}" for j, c in jobs])
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def get(self, batch_id: str) -> dict[str, Any] | None:
        raw = await self._r.hgetall(self._prefix + batch_id)
        if not raw:
            return None
        fields = {_s(k): v for k, v in raw.items()}
        record: dict[str, Any] = orjson.loads(fields["record"])
        record["status"] = _s(fields["status"])
        record["counts"] = {k: int(fields.get(k, 0)) for k in ("succeeded", "failed", "cancelled")}
        return record

    async def set_status(self, batch_id: str, status: str) -> None:
        await self._r.hset(self._prefix + batch_id, "status", status)

    async def count(self, batch_id: str, status: str) -> None:
        await self._r.hincrby(self._prefix + batch_id, status, 1)

    async def jobs(self, batch_id: str) -> list[tuple[str, str]]:
        raw = await self._r.lrange(self._prefix + batch_id + ":jobs", 0, -1)
        return [(parts[0], parts[1]) for parts in (_s(r).split("\t", 1) for r in raw)]

    async def put_file(self, file_id: str, org_id: str, content: bytes) -> None:
        await self._r.set(f"{self._prefix}file:{org_id}:{file_id}", content, ex=self._ttl_s)

    async def get_file(self, file_id: str, org_id: str) -> bytes | None:
        found = await self._r.get(f"{self._prefix}file:{org_id}:{file_id}")
        return bytes(found) if found is not None else None

    async def put_provider_batch(self, batch_id: str, index: int, entry: dict[str, Any]) -> None:
        key = self._prefix + batch_id + ":provider"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, str(index), orjson.dumps(entry))
            pipe.expire(key, self._ttl_s)
            pipe.sadd(self._prefix + "open", batch_id)
            await pipe.execute()

    async def provider_batches(self, batch_id: str) -> list[dict[str, Any]]:
        raw = await self._r.hgetall(self._prefix + batch_id + ":provider")
        return [orjson.loads(v) for _, v in sorted(((int(_s(k)), v) for k, v in raw.items()))]

    async def open_batches(self) -> list[str]:
        return sorted(_s(b) for b in await self._r.smembers(self._prefix + "open"))

    async def close(self, batch_id: str) -> None:
        await self._r.srem(self._prefix + "open", batch_id)

    async def lease(self, batch_id: str, owner: str, ttl_s: float) -> bool:
        key = self._prefix + batch_id + ":lease"
        if await self._r.set(key, owner, nx=True, px=int(ttl_s * 1000)):
            return True
        if _s(await self._r.get(key) or b"") == owner:
            await self._r.pexpire(key, int(ttl_s * 1000))
            return True
        return False
