"""Circuit state in Redis, shared by every worker process: one hash per circuit, read and
written by one Lua script per call so concurrent processes never lose an update.

The rules are those of `breaker_memory.MemoryBreakerStore`; the contract test in
tests/services/resilience runs the same cases against both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.common.redis_batch import ScriptBatcher
from services.resilience.breaker import Admission, BreakerConfig

if TYPE_CHECKING:
    from redis.asyncio import Redis

# Fields: s state, f failures, ws window start, oa opened at, ok half-open successes,
# p probes in flight, pa last probe start. Numbers come back as strings: Lua would truncate
# floats returned as numbers.
_SCRIPT = """
local op = ARGV[1]
local now = tonumber(ARGV[2])
local max_fail, window, cooldown = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local need_ok, max_probes, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local ok, probe = ARGV[9] == '1', ARGV[10] == '1'
local h = redis.call('HMGET', KEYS[1], 's', 'f', 'ws', 'oa', 'ok', 'p', 'pa')
local s = h[1] or 'closed'
local f, ws, oa = tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0
local okc, p, pa = tonumber(h[5]) or 0, tonumber(h[6]) or 0, tonumber(h[7]) or 0
if s == 'open' and now >= oa + cooldown then s = 'half_open'; okc = 0; p = 0 end
if s == 'half_open' and p >= max_probes and now >= pa + cooldown then p = 0 end
local out
if op == 'acquire' then
  if s == 'closed' then out = {'1', s, '0', '0'}
  elseif s == 'open' then out = {'0', s, '0', tostring(oa + cooldown - now)}
  elseif p < max_probes then p = p + 1; pa = now; out = {'1', s, '1', '0'}
  else out = {'0', s, '0', tostring(math.min(cooldown, 1))} end
elseif op == 'record' then
  if probe and p > 0 then p = p - 1 end
  if ok then
    if s == 'half_open' then
      okc = okc + 1
      if okc >= need_ok then s = 'closed'; f = 0; ws = now; okc = 0; p = 0 end
    end
  elseif s == 'closed' then
    if now - ws > window then ws = now; f = 0 end
    f = f + 1
    if f >= max_fail then s = 'open'; oa = now; okc = 0; p = 0 end
  elseif s == 'half_open' then s = 'open'; oa = now; okc = 0; p = 0 end
  out = {s}
else
  out = {s}
end
redis.call('HSET', KEYS[1], 's', s, 'f', f, 'ws', tostring(ws), 'oa', tostring(oa),
  'ok', okc, 'p', p, 'pa', tostring(pa))
redis.call('EXPIRE', KEYS[1], ttl)
return out
"""


class RedisBreakerStore:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_SCRIPT)
        # When the locally trusted "closed" lapses, every call starting in that tick asks
        # (a worker starting 1,000 jobs: 1,000 calls): they go as one batched call.
        self._scripts = ScriptBatcher(redis)

    async def _run(
        self, op: str, key: str, now: float, config: BreakerConfig, ok: bool = False,
        probe: bool = False,
    ) -> list[str]:
        args: list[Any] = [
            op, repr(now), config.failures, repr(config.window_s), repr(config.cooldown_s),
            config.successes, config.half_open_calls, config.ttl_s, int(ok), int(probe),
        ]
        raw = await self._scripts.call(self._script, [self._prefix + key], args)
        return [v.decode() if isinstance(v, bytes) else str(v) for v in raw]

    async def acquire(self, key: str, now: float, config: BreakerConfig) -> Admission:
        allowed, state, probe, wait = await self._run("acquire", key, now, config)
        return Admission(allowed == "1", state, probe == "1", float(wait))

    async def record(
        self, key: str, ok: bool, probe: bool, now: float, config: BreakerConfig
    ) -> str:
        return (await self._run("record", key, now, config, ok, probe))[0]

    async def state(self, key: str, now: float, config: BreakerConfig) -> str:
        return (await self._run("state", key, now, config))[0]
