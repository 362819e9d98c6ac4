-- Stores a model and marks its job succeeded in one step, only if the job is still running
-- (a job cancelled during training must not leave a model behind) and, with an attempt
-- number, only while that attempt holds it. The history is the model's: the job's epochs
-- go, and the job reads it from the model. Returns the model's version.
-- KEYS: job, epochs, data_x, data_y, data_w, data_users, sweep, sweep_jobs, expiring, sweeps_expiring
-- KEYS: index_running, index_succeeded, stats_ended, training_succeeded, stats_nodes
-- KEYS: model, models, name, name_seq, owned_models, tenant_bytes
-- ARGV: job_id, attempt, fields, model_id, meta, blob, created_ms, changes, ttl, tenant
if redis.call('HGET', keys.job, 'status') ~= 'running' then return false end
if args.attempt ~= '' and redis.call('HGET', keys.job, 'attempts') ~= args.attempt then
  return false
end
local version = store_model(keys, args)
redis.call('HSET', keys.job, 'status', 'succeeded', 'model_id', args.model_id,
  unpack(cjson.decode(args.fields)))
reindex(keys, args.job_id, 'running', 'succeeded')
close_attempt(keys, 'succeeded')
redis.call('DEL', keys.epochs)
retire(keys, args.job_id, args.ttl)
record_end(keys, 'succeeded', 'running')
redis.call('PUBLISH', keys.job, 'succeeded')
return version
