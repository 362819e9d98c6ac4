-- Starts an attempt: a queued job, or a running one whose lease has run out (its worker
-- is presumed dead). Returns {'started', attempt}, {'busy', seconds left on the lease},
-- {'exhausted', attempts} when max_attempts are used up (the job is failed with error),
-- or {status, 0} for a job that has ended; false for an unknown job.
-- KEYS: job, epochs, data_x, data_y, data_w, data_users, sweep, sweep_jobs, expiring, sweeps_expiring
-- KEYS: index_queued, index_running, index_failed
-- KEYS: stats_ended, training_failed, stats_nodes
-- ARGV: job_id, worker, host, pid, started_at, lease, max_attempts, error, finished_at, ttl
local rec = redis.call('HMGET', keys.job, 'status', 'attempts', 'lease_until')
local status = rec[1]
if not status then return false end
local attempts = tonumber(rec[2] or '0')
local now = server_now()
if status == 'running' then
  local left = tonumber(rec[3] or '0') - now
  if left > 0 then return {'busy', string.format('%.3f', left)} end
elseif status ~= 'queued' then
  return {status, 0}
end
if attempts >= tonumber(args.max_attempts) then
  give_up(keys, args.job_id, status, args.error, args.finished_at, args.ttl)
  return {'exhausted', attempts}
end
-- a running job here is one whose lease ran out: its attempt is over
close_attempt(keys, 'lease_expired')
attempts = attempts + 1
open_attempt(keys, attempts, args.worker, args.host, args.pid)
redis.call('HSET', keys.job, 'status', 'running', 'started_at', args.started_at,
  'worker', args.worker, 'attempts', attempts,
  'lease_until', string.format('%.3f', now + tonumber(args.lease)),
  'started_ms', string.format('%d', now * 1000))
-- the attempt trains from its first epoch: those of an attempt before it are not its own
redis.call('DEL', keys.epochs)
reindex(keys, args.job_id, status, 'running')
redis.call('PUBLISH', keys.job, 'running')
return {'started', attempts}
