-- Stores a model and marks its job succeeded in one step, only if the job is still running
-- (a job cancelled during training must not leave a model behind) and, with an attempt
-- number, only while that attempt holds it. Returns the model's version.
-- KEYS: job, data_x, data_y, index_running, index_succeeded, stats_ended, training_succeeded
-- KEYS: model, models, name, name_seq
-- ARGV: job_id, attempt, fields, model_id, meta, blob, created_ms, changes
if redis.call('HGET', keys.job, 'status') ~= 'running' then return false end
if args.attempt ~= '' and redis.call('HGET', keys.job, 'attempts') ~= args.attempt then
  return false
end
local version = redis.call('INCR', keys.name_seq)
redis.call('HSET', keys.model, 'meta', args.meta, 'blob', args.blob, 'version', version)
redis.call('ZADD', keys.models, args.created_ms, args.model_id)
redis.call('ZADD', keys.name, version, args.model_id)
redis.call('HSET', keys.job, 'status', 'succeeded', 'model_id', args.model_id,
  unpack(cjson.decode(args.fields)))
reindex(keys, args.job_id, 'running', 'succeeded')
redis.call('DEL', keys.data_x, keys.data_y)
record_end(keys, 'succeeded', 'running')
redis.call('PUBLISH', keys.job, 'succeeded')
redis.call('PUBLISH', args.changes, 'stored ' .. args.model_id)
return version
