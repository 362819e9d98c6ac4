-- Writes progress (the fields, a JSON list of field, value, ...), appends the epochs not
-- yet stored and extends the lease by args.lease seconds, only while this attempt holds
-- the running job, so a late report cannot overwrite an ending nor keep alive a job taken
-- over by another. args.rows holds epochs args.first + 1 onwards, one JSON row a line:
-- those already stored (a write repeated after its reply was lost) are skipped, so the
-- stored epochs are never rewritten and a write costs the same at any epoch. Returns 1 or 0.
-- KEYS: job, epochs
-- ARGV: fields, attempt, lease, first, rows
local rec = redis.call('HMGET', keys.job, 'status', 'attempts')
if rec[1] ~= 'running' then return 0 end
if args.attempt ~= '' and rec[2] ~= args.attempt then return 0 end
local stored = redis.call('LLEN', keys.epochs)
local epoch = tonumber(args.first)
for row in string.gmatch(args.rows, '[^\n]+') do
  if epoch >= stored then redis.call('RPUSH', keys.epochs, row) end
  epoch = epoch + 1
end
redis.call('HSET', keys.job,
  'lease_until', string.format('%.3f', server_now() + tonumber(args.lease)),
  unpack(cjson.decode(args.fields)))
redis.call('PUBLISH', keys.job, 'progress')
return 1
