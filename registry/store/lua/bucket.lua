-- Takes one request's token from a tenant's bucket, shared by every API process: the
-- bucket holds up to args.burst tokens and refills at args.rate tokens a second (Redis
-- server time, so that the processes' clocks do not matter). Returns {1, 0} when a token
-- was taken, else {0, milliseconds until one will be there}; a request refused takes none.
-- KEYS: bucket
-- ARGV: rate, burst
local rate, burst = tonumber(args.rate), tonumber(args.burst)
local now = server_ms()
local state = redis.call('HMGET', keys.bucket, 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local taken, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', keys.bucket, 'tokens', string.format('%.6f', tokens), 'at', now)
-- a full bucket is the same as none: let it go once it would have refilled
redis.call('PEXPIRE', keys.bucket, math.ceil(burst * 1000 / rate) + 1000)
return {taken, wait}
