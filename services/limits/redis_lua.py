"""Lua scripts of the Redis limits adapter. Each runs atomically inside Redis, on Redis's
clock (TIME), so processes with skewed clocks still share one exact limit."""

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: n rate buckets (tat strings), then m budget hashes {spent, reserved}
# ARGV: n, then per rate: limit, window_s, cost; then per budget: cap, estimate, ttl_s
# Returns {1, 0, '0', remaining, reset_s, ...} when everything was taken, else
# {0, index of the refusing check (1-based), wait_s} and nothing moved.
ADMIT = _NOW + """
local n = tonumber(ARGV[1])
local new = {}
for i = 1, n do
  local b = 1 + (i - 1) * 3
  local limit, window, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local nt = tat + cost * window / limit
  local over = nt - now - window
  if over > 1e-9 then
    if cost > limit then over = window end
    return {0, i, tostring(over)}
  end
  new[i] = nt
end
local off = 1 + n * 3
for j = 1, #KEYS - n do
  local b = off + (j - 1) * 3
  local v = redis.call('HMGET', KEYS[n + j], 'spent', 'reserved')
  if (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0) + tonumber(ARGV[b + 2]) > tonumber(ARGV[b + 1]) then
    return {0, n + j, '0'}
  end
end
local out = {1, 0, '0'}
for i = 1, n do
  local b = 1 + (i - 1) * 3
  local limit, window = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  local ahead = new[i] - now
  redis.call('SET', KEYS[i], string.format('%.6f', new[i]), 'PX', math.ceil(ahead * 1000) + 1000)
  out[#out + 1] = math.max(0, math.floor((window - ahead) * limit / window + 1e-9))
  out[#out + 1] = tostring(ahead)
end
for j = 1, #KEYS - n do
  local b = off + (j - 1) * 3
  redis.call('HINCRBY', KEYS[n + j], 'reserved', ARGV[b + 2])
  redis.call('EXPIRE', KEYS[n + j], ARGV[b + 3])
end
return out
"""

# KEYS: n rate buckets, then m budget hashes
# ARGV: n, then per rate: limit, window_s, delta; then per budget: cap, estimate, actual, ttl_s
# Returns {budget index (1-based among budgets), spent after, percent, ...}: one triple per
# 80% / 100% threshold this call is the first to see reached in the budget's period. The
# marker (HSETNX t80 / t100) lives in the period's hash, so it expires with the period, and
# any number of processes settling at once announce each threshold exactly once.
SETTLE = _NOW + """
local n = tonumber(ARGV[1])
for i = 1, n do
  local b = 1 + (i - 1) * 3
  local limit, window, delta = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  local nt = math.max(tat + delta * window / limit, now)
  redis.call('SET', KEYS[i], string.format('%.6f', nt), 'PX', math.ceil((nt - now) * 1000) + 1000)
end
local out = {}
local off = 1 + n * 3
for j = 1, #KEYS - n do
  local b = off + (j - 1) * 4
  local k = KEYS[n + j]
  local cap = tonumber(ARGV[b + 1])
  -- 0 - x, not -x: -0 (an estimate of 0, an unpriced model) would reach Redis as "-0",
  -- which HINCRBY refuses as not an integer.
  local reserved = redis.call('HINCRBY', k, 'reserved', 0 - tonumber(ARGV[b + 2]))
  if reserved < 0 then redis.call('HSET', k, 'reserved', 0) end
  local after = redis.call('HINCRBY', k, 'spent', ARGV[b + 3])
  redis.call('EXPIRE', k, ARGV[b + 4])
  for _, p in ipairs({80, 100}) do
    if cap > 0 and after * 100 >= cap * p and redis.call('HSETNX', k, 't' .. p, 1) == 1 then
      out[#out + 1] = j
      out[#out + 1] = after
      out[#out + 1] = p
    end
  end
end
return out
"""

# KEYS: slot zset (lease id -> expiry). ARGV: limit, lease id, lease_s. Returns 1 or 0.
ACQUIRE_SLOT = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000))
return 1
"""

# KEYS: rendezvous key. ARGV: value, ttl_s. Returns the other half (and deletes it) or nil
# after storing this half.
MEET = """
local other = redis.call('GET', KEYS[1])
if other then
  redis.call('DEL', KEYS[1])
  return other
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""
