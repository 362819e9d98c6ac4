-- Claims the right to send another message for a job queued without one starting it for
-- older_than_ms (its message may have been lost): 1 if this caller should send, else 0.
-- KEYS: job
-- ARGV: older_than_ms
local rec = redis.call('HMGET', keys.job, 'status', 'sent_ms', 'created_ms')
if rec[1] ~= 'queued' then return 0 end
local now = server_ms()
if tonumber(rec[2] or rec[3] or '0') > now - tonumber(args.older_than_ms) then return 0 end
redis.call('HSET', keys.job, 'sent_ms', now)
return 1
