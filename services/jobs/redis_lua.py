"""Lua scripts of the Redis job store. Each runs atomically inside Redis."""

# create_job(k, a, at): record a job unless its idempotency key was seen. A Lua function, so
# the scheduler's hold (services/scheduling/redis_store.py) records and parks a job in one script.
# k: job hash, idempotency key ("" for none), org index zset
# a[at...]: ttl_s, idem value, score, job id, prune-before score, field, value, ...
# Returns nil when created, or the idempotency value of the earlier submission.
CREATE_JOB = """
local function create_job(k, a, at)
  if k[2] ~= '' then
    local seen = redis.call('GET', k[2])
    if seen then return seen end
    redis.call('SET', k[2], a[at + 1], 'EX', a[at])
  end
  redis.call('HSET', k[1], unpack(a, at + 5))
  redis.call('EXPIRE', k[1], a[at])
  redis.call('ZADD', k[3], a[at + 2], a[at + 3])
  redis.call('ZREMRANGEBYSCORE', k[3], '-inf', '(' .. a[at + 4])
  redis.call('EXPIRE', k[3], a[at])
  return nil
end
"""

# KEYS and ARGV: create_job's.
CREATE = CREATE_JOB + "return create_job(KEYS, ARGV, 1)\n"

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
