-- Reads one page of a tenant's jobs or sweeps, newest first: the ids of its index (owned)
-- still in the listing (index_all, trimmed of what expired) and, for a filtered listing
-- (index other than index_all), in index as well. Ids that left index_all are dropped from
-- owned first, so that owned never holds more than what the listing still shows. Costs
-- the tenant's ids, not the whole listing's. Returns {total, id, id, ...}.
-- KEYS: owned, index_all, index
-- ARGV: offset, limit
local offset, limit = tonumber(args.offset), tonumber(args.limit)
local mine = redis.call('ZCARD', keys.owned)
if mine ~= redis.call('ZINTERCARD', 2, keys.owned, keys.index_all) then
  redis.call('ZINTERSTORE', keys.owned, 2, keys.owned, keys.index_all, 'WEIGHTS', 1, 0)
end
if keys.index == keys.index_all then
  local ids = redis.call('ZREVRANGE', keys.owned, offset, offset + limit - 1)
  table.insert(ids, 1, redis.call('ZCARD', keys.owned))
  return ids
end
local ids = redis.call('ZINTER', 2, keys.owned, keys.index, 'WEIGHTS', 1, 0)
local out = {#ids}
for i = #ids - offset, math.max(1, #ids - offset - limit + 1), -1 do
  out[#out + 1] = ids[i]
end
return out
