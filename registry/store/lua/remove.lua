-- Removes an ended job now: its record, its epochs, and its id from every listing.
-- Returns its status (the job is removed only when that is an ended one); false for an
-- unknown job.
-- KEYS: job, epochs, expiring, index_all, index_succeeded, index_failed, index_cancelled
-- ARGV: job_id
local status = redis.call('HGET', keys.job, 'status')
if not status then return false end
if status ~= 'succeeded' and status ~= 'failed' and status ~= 'cancelled' then return status end
redis.call('DEL', keys.job, keys.epochs)
redis.call('ZREM', keys.expiring, args.job_id)
redis.call('ZREM', keys.index_all, args.job_id)
redis.call('ZREM', by_status(keys, 'index', status), args.job_id)
return status
