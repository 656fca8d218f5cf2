"""Lua scripts of the Redis job store. Each runs atomically inside Redis."""

# KEYS: job hash, idempotency key ("" for none), org index zset
# ARGV: ttl_s, idem value, score, job id, prune-before score, field, value, ...
# Returns nil when created, or the idempotency value of the earlier submission.
CREATE = """
if KEYS[2] ~= '' then
  local seen = redis.call('GET', KEYS[2])
  if seen then return seen end
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[1])
return nil
"""

# KEYS: job hash
# ARGV: new status, count attempt (0|1), publish channel ("" for none), n allowed,
#       allowed..., field, value, ...
# Returns the job's fields after the change, or nil when its status was not allowed.
TRANSITION = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return nil end
local n = tonumber(ARGV[4])
local ok = false
for i = 5, 4 + n do
  if ARGV[i] == status then ok = true break end
end
if not ok then return nil end
local fields = {'status', ARGV[1]}
for i = 5 + n, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], redis.call('HGET', KEYS[1], 'id'))
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: job hash. Returns its fields (field, value, ...), empty when there is no such job.
READ = """
return redis.call('HGETALL', KEYS[1])
"""
