-- Ends a queued or running job as args.status (failed or cancelled), writing the fields
-- (a JSON list of field, value, ...), releasing its training data and letting it expire
-- after args.ttl seconds (0: never); with an attempt
-- number, only while that attempt holds the job; with a pid, only while the job runs under
-- an attempt that process of node args.node opened. Returns {old status, 1 if ended else
-- 0}; false for an unknown job.
-- KEYS: job, epochs, data_x, data_y, data_w, data_users, sweep, sweep_jobs, expiring, sweeps_expiring
-- KEYS: index_queued, index_running, index_failed, index_cancelled
-- KEYS: stats_ended, training_failed, training_cancelled, stats_nodes
-- ARGV: job_id, status, fields, attempt, node, pid, ttl
local status = redis.call('HGET', keys.job, 'status')
if not status then return false end
if args.attempt ~= '' and redis.call('HGET', keys.job, 'attempts') ~= args.attempt then
  return {status, 0}
end
if status ~= 'queued' and status ~= 'running' then return {status, 0} end
if args.pid ~= '' and (status ~= 'running' or not held_by(keys, args.node, args.pid)) then
  return {status, 0}
end
redis.call('HSET', keys.job, 'status', args.status, unpack(cjson.decode(args.fields)))
close_attempt(keys, args.status)
reindex(keys, args.job_id, status, args.status)
retire(keys, args.job_id, args.ttl)
record_end(keys, args.status, status)
redis.call('PUBLISH', keys.job, args.status)
return {status, 1}
