-- What the sweeper does with a running job: nothing while its lease is live ('live');
-- fail it with error when max_attempts are used up ('failed'); otherwise report it
-- ('expired') or, with args.mode 'requeue', put it back in the queued state ('requeued').
-- 'gone' for a job no longer running.
-- KEYS: job, epochs, data_x, data_y, data_w, data_users, sweep, sweep_jobs, expiring, sweeps_expiring
-- KEYS: index_queued, index_running, index_failed
-- KEYS: stats_ended, training_failed, stats_nodes
-- ARGV: job_id, mode, max_attempts, error, finished_at, ttl
local rec = redis.call('HMGET', keys.job, 'status', 'attempts', 'lease_until')
if rec[1] ~= 'running' then return 'gone' end
if tonumber(rec[3] or '0') > server_now() then return 'live' end
if tonumber(rec[2] or '0') >= tonumber(args.max_attempts) then
  give_up(keys, args.job_id, 'running', args.error, args.finished_at, args.ttl)
  return 'failed'
end
if args.mode ~= 'requeue' then return 'expired' end
close_attempt(keys, 'lease_expired')
redis.call('HSET', keys.job, 'status', 'queued', 'sent_ms',
  string.format('%d', server_now() * 1000))
redis.call('HDEL', keys.job, 'lease_until', 'worker')
reindex(keys, args.job_id, 'running', 'queued')
redis.call('PUBLISH', keys.job, 'queued')
return 'requeued'
