"""Redis adapter of the turn order: one Lua script per step, so a check and its change are
one atomic step across every worker process. Time comes from the server (`TIME`), so
workers with drifting clocks agree on when a lease has expired.

Keys per thread (hash-tagged on the thread id, so one thread's keys share a cluster slot):
`thread:{id}:seq` (counter), `thread:{id}:order` (hash: cursor, holder, lease_until,
active_at, in ms) and `thread:{id}:done` (turns finished ahead of the cursor). All expire
after `ttl_s` idle; the counter is re-seeded from the thread's `last_turn` when gone.
"""

from __future__ import annotations

from typing import Any

from services.threads.order_store import Acquired, Grant

_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
_ADVANCE = """
local function advance(cursor)
  cursor = cursor + 1
  while redis.call('SISMEMBER', KEYS[3], cursor) == 1 do
    redis.call('SREM', KEYS[3], cursor)
    cursor = cursor + 1
  end
  return cursor
end
local function touch()
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[#ARGV]) end
end
"""

# ARGV: floor, ttl
ASSIGN = _ADVANCE + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  if redis.call('HEXISTS', KEYS[2], 'cursor') == 0 then
    redis.call('HSET', KEYS[2], 'cursor', tonumber(ARGV[1]) + 1)
  end
end
local n = redis.call('INCR', KEYS[1])
if n <= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], tonumber(ARGV[1]) + 1)
  n = tonumber(ARGV[1]) + 1
end
touch()
return n
"""

# ARGV: turn, holder, lease_ms, stall_ms, ttl
ACQUIRE = _NOW + _ADVANCE + """
local turn = tonumber(ARGV[1])
local cursor = tonumber(redis.call('HGET', KEYS[2], 'cursor') or '1')
if turn < cursor or redis.call('SISMEMBER', KEYS[3], turn) == 1 then return {'done', cursor} end
local holder = redis.call('HGET', KEYS[2], 'holder')
local live = holder and tonumber(redis.call('HGET', KEYS[2], 'lease_until') or '0') > now
if turn > cursor then
  local active = tonumber(redis.call('HGET', KEYS[2], 'active_at') or '-1')
  if active < 0 then
    active = now
    redis.call('HSET', KEYS[2], 'cursor', cursor, 'active_at', now)
    touch()
  end
  if live or now - active < tonumber(ARGV[4]) then return {'wait', cursor} end
  cursor = advance(cursor)
  redis.call('HSET', KEYS[2], 'cursor', cursor, 'active_at', now)
  redis.call('HDEL', KEYS[2], 'holder', 'lease_until')
  touch()
  if turn ~= cursor then return {'wait', cursor} end
elseif live and holder ~= ARGV[2] then
  return {'wait', cursor}
end
redis.call('HSET', KEYS[2], 'cursor', cursor, 'holder', ARGV[2], 'lease_until', now + tonumber(ARGV[3]),
           'active_at', now)
touch()
return {'granted', cursor}
"""

# ARGV: holder, lease_ms ("" to drop the lease), ttl
RENEW = _NOW + _ADVANCE + """
if redis.call('HGET', KEYS[2], 'holder') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[2], 'holder', 'lease_until')
  redis.call('HSET', KEYS[2], 'active_at', now)
else
  redis.call('HSET', KEYS[2], 'lease_until', now + tonumber(ARGV[2]), 'active_at', now)
end
touch()
return 1
"""

# ARGV: turn, ttl
FINISH = _NOW + _ADVANCE + """
local turn = tonumber(ARGV[1])
local cursor = tonumber(redis.call('HGET', KEYS[2], 'cursor') or '1')
if turn > cursor then
  redis.call('SADD', KEYS[3], turn)
elseif turn == cursor then
  cursor = advance(cursor)
  redis.call('HSET', KEYS[2], 'cursor', cursor, 'active_at', now)
  redis.call('HDEL', KEYS[2], 'holder', 'lease_until')
end
touch()
return cursor
"""


class RedisTurnOrder:
    def __init__(self, redis: Any, *, key_prefix: str, lease_s: float = 30.0, stall_s: float = 120.0,
                 ttl_s: float = 7 * 24 * 3600) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._lease_ms, self._stall_ms, self._ttl_s = int(lease_s * 1000), int(stall_s * 1000), int(ttl_s)
        self._assign = redis.register_script(ASSIGN)
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._finish = redis.register_script(FINISH)

    def _keys(self, thread_id: str) -> list[str]:
        base = f"{self._prefix}thread:{{{thread_id}}}"
        return [f"{base}:seq", f"{base}:order", f"{base}:done"]

    async def assign(self, thread_id: str, *, floor: int = 0) -> int:
        return int(await self._assign(keys=self._keys(thread_id), args=[floor, self._ttl_s]))

    async def acquire(self, thread_id: str, turn: int, holder: str) -> Acquired:
        grant, cursor = await self._acquire(
            keys=self._keys(thread_id), args=[turn, holder, self._lease_ms, self._stall_ms, self._ttl_s])
        name = grant.decode() if isinstance(grant, bytes) else str(grant)
        return Acquired(Grant(name), int(cursor))

    async def renew(self, thread_id: str, holder: str) -> bool:
        return bool(await self._renew(keys=self._keys(thread_id), args=[holder, self._lease_ms, self._ttl_s]))

    async def pause(self, thread_id: str, holder: str) -> bool:
        return bool(await self._renew(keys=self._keys(thread_id), args=[holder, "", self._ttl_s]))

    async def finish(self, thread_id: str, turn: int) -> int:
        return int(await self._finish(keys=self._keys(thread_id), args=[turn, self._ttl_s]))

    async def forget(self, thread_id: str) -> None:
        await self._redis.delete(*self._keys(thread_id))

    async def close(self) -> None:
        return None
