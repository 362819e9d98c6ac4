-- Removes from the listings the jobs and sweeps that expired (their records are gone):
-- at most args.limit of each, the first to expire first, so a call costs what it removes
-- and each id is removed once. Returns how many jobs and sweeps were removed.
-- KEYS: expiring, sweeps_expiring, index_all, index_queued, index_running
-- KEYS: index_succeeded, index_failed, index_cancelled, sweeps
-- ARGV: limit
local now = server_ms()
local jobs = redis.call('ZRANGEBYSCORE', keys.expiring, '-inf', now, 'LIMIT', 0, args.limit)
if #jobs > 0 then
  redis.call('ZREM', keys.index_all, unpack(jobs))
  redis.call('ZREM', keys.index_queued, unpack(jobs))
  redis.call('ZREM', keys.index_running, unpack(jobs))
  redis.call('ZREM', keys.index_succeeded, unpack(jobs))
  redis.call('ZREM', keys.index_failed, unpack(jobs))
  redis.call('ZREM', keys.index_cancelled, unpack(jobs))
  redis.call('ZREM', keys.expiring, unpack(jobs))
end
local sweeps = redis.call('ZRANGEBYSCORE', keys.sweeps_expiring, '-inf', now,
  'LIMIT', 0, args.limit)
if #sweeps > 0 then
  redis.call('ZREM', keys.sweeps, unpack(sweeps))
  redis.call('ZREM', keys.sweeps_expiring, unpack(sweeps))
end
return {#jobs, #sweeps}
