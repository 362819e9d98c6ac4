-- Writes progress (the fields, a JSON list of field, value, ...) and extends the lease by
-- args.lease seconds, only while this attempt holds the running job, so a late report
-- cannot overwrite an ending nor keep alive a job taken over by another. Returns 1 or 0.
-- KEYS: job
-- ARGV: fields, attempt, lease
local rec = redis.call('HMGET', keys.job, 'status', 'attempts')
if rec[1] ~= 'running' then return 0 end
if args.attempt ~= '' and rec[2] ~= args.attempt then return 0 end
redis.call('HSET', keys.job,
  'lease_until', string.format('%.3f', server_now() + tonumber(args.lease)),
  unpack(cjson.decode(args.fields)))
redis.call('PUBLISH', keys.job, 'progress')
return 1
