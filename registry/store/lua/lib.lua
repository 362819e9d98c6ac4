-- Shared by every script: the loader puts it after the script's `keys` and `args` and
-- BUCKETS, the training-duration buckets as {upper bound, field name} pairs.

local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A script that may move a job between several statuses receives each status's key
-- (index_<status>, training_<status>) and picks one here, never building its name.
local function by_status(keys, kind, status)
  local key = keys[kind .. '_' .. status]
  if not key then error('no ' .. kind .. '_' .. status .. ' among the keys') end
  return key
end

-- Moves a job between status indexes, scored by its creation time.
local function reindex(keys, job_id, from, to)
  local created = redis.call('HGET', keys.job, 'created_ms')
  redis.call('ZREM', by_status(keys, 'index', from), job_id)
  redis.call('ZADD', by_status(keys, 'index', to), created, job_id)
end

-- Counts a job's end and, when it ended while running, how long its attempt trained (from
-- started_ms, Redis server time); one HINCRBY into the first bucket that holds it.
local function record_end(keys, status, was)
  redis.call('HINCRBY', keys.stats_ended, status, 1)
  if was ~= 'running' then return end
  local started = tonumber(redis.call('HGET', keys.job, 'started_ms') or '')
  if not started then return end
  local seconds = math.max(0, server_ms() - started) / 1000
  local field = '+Inf'
  for _, b in ipairs(BUCKETS) do
    if seconds <= b[1] then field = b[2] break end
  end
  local training = by_status(keys, 'training', status)
  redis.call('HINCRBY', training, field, 1)
  redis.call('HINCRBY', training, 'count', 1)
  redis.call('HINCRBYFLOAT', training, 'sum', string.format('%.3f', seconds))
end

-- What every ending does to a job's keys: releases its training data (a sweep's jobs
-- share theirs, kept in data_users until the last one ends; a job outside a sweep has no
-- such set, so its data goes at once) and, with a ttl (seconds; 0 keeps them), lets the
-- job expire, and its sweep with it when this was the sweep's last job, noting when in
-- the expiry indexes the listings are trimmed from.
local function retire(keys, job_id, ttl)
  redis.call('SREM', keys.data_users, job_id)
  local last = redis.call('SCARD', keys.data_users) == 0
  if last then redis.call('DEL', keys.data_x, keys.data_y, keys.data_w) end
  local seconds = tonumber(ttl)
  if seconds <= 0 then return end
  local at = server_ms() + seconds * 1000
  redis.call('EXPIRE', keys.job, seconds)
  redis.call('EXPIRE', keys.epochs, seconds)
  redis.call('ZADD', keys.expiring, at, job_id)
  local sweep_id = last and redis.call('HGET', keys.sweep, 'id')
  if sweep_id then
    redis.call('EXPIRE', keys.sweep, seconds)
    redis.call('EXPIRE', keys.sweep_jobs, seconds)
    redis.call('ZADD', keys.sweeps_expiring, at, sweep_id)
  end
end

-- A job's attempts, oldest first: {attempt, node, host, started_ms, ended_ms, outcome}
-- each, times in ms of the server's clock; 'running' is the outcome of the attempt under
-- way. Kept in the record as JSON (cjson writes an empty list as {}: the reader takes it
-- for none).
local function attempt_log(keys)
  local raw = redis.call('HGET', keys.job, 'attempt_log')
  if not raw then return {} end
  return cjson.decode(raw)
end

-- Nodes counted by name in stats_nodes at most; the attempts of any other count under
-- '(other)', so that workers restarting under new names for ever do not grow it for ever
local MAX_NODES = 1000

-- Ends the attempt under way, if any, with outcome (succeeded, failed, cancelled or
-- lease_expired), and counts it under its node and outcome.
local function close_attempt(keys, outcome)
  local log = attempt_log(keys)
  local last = log[#log]
  if not last or last.outcome ~= 'running' then return end
  last.outcome = outcome
  last.ended_ms = server_ms()
  redis.call('HSET', keys.job, 'attempt_log', cjson.encode(log))
  local field = last.node .. '|' .. outcome
  if redis.call('HEXISTS', keys.stats_nodes, field) == 0
      and redis.call('HLEN', keys.stats_nodes) >= MAX_NODES then
    field = '(other)|' .. outcome
  end
  redis.call('HINCRBY', keys.stats_nodes, field, 1)
end

-- Opens attempt number n by node on host (in its process pid, when given: '' is none),
-- under way from now.
local function open_attempt(keys, n, node, host, pid)
  local log = attempt_log(keys)
  log[#log + 1] = {attempt = n, node = node, host = host, pid = tonumber(pid),
    started_ms = server_ms(), outcome = 'running'}
  redis.call('HSET', keys.job, 'attempt_log', cjson.encode(log))
end

-- Whether the job runs under an attempt that process pid of node opened.
local function held_by(keys, node, pid)
  local last = attempt_log(keys)
  last = last[#last]
  return last ~= nil and last.outcome == 'running' and last.node == node
    and last.pid == tonumber(pid)
end

-- Ends a job failed, from status, its attempts used up (error: the Error as JSON).
local function give_up(keys, job_id, status, error_json, finished_at, ttl)
  close_attempt(keys, 'lease_expired')
  redis.call('HSET', keys.job, 'status', 'failed', 'error', error_json,
    'finished_at', finished_at)
  redis.call('HDEL', keys.job, 'lease_until')
  reindex(keys, job_id, status, 'failed')
  retire(keys, job_id, ttl)
  record_end(keys, 'failed', status)
  redis.call('PUBLISH', keys.job, 'failed')
end

-- Stores a model of args.tenant as the next version of its name (the tenant's), lists it
-- among the tenant's, counts its bytes, and announces it on the change feed; returns the
-- version. Keys model, models, name, name_seq, owned_models, tenant_bytes; args model_id,
-- meta, blob, created_ms, changes, tenant.
local function store_model(keys, args)
  local version = redis.call('INCR', keys.name_seq)
  redis.call('HSET', keys.model, 'meta', args.meta, 'blob', args.blob, 'version', version,
    'tenant', args.tenant)
  redis.call('ZADD', keys.models, args.created_ms, args.model_id)
  redis.call('ZADD', keys.owned_models, args.created_ms, args.model_id)
  redis.call('HINCRBY', keys.tenant_bytes, 'models', #args.blob)
  redis.call('ZADD', keys.name, version, args.model_id)
  redis.call('PUBLISH', args.changes, 'stored ' .. args.model_id .. ' ' .. args.tenant)
  return version
end
