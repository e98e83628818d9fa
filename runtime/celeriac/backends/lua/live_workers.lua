--[[
  Every live worker process with what it runs now, in one round trip; prunes the names
  whose description expired.

  KEYS: none. ARGV[1] key prefix.
  <prefix>:workers           set of registered worker process (consumer) names
  <prefix>:worker:{name}     its description (JSON, written at each heartbeat, expires)
  <prefix>:running:{name}    "<seq>\n<in flight>\n<task id>\n..." written with the
                             worker's settlements (settle.lua), expires

  Returns: { {name, description, running snapshot or false}, ... }
]]
local prefix = ARGV[1]
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', prefix .. ':workers')) do
  local info = redis.call('GET', prefix .. ':worker:' .. name)
  if info then
    out[#out + 1] = {name, info, redis.call('GET', prefix .. ':running:' .. name)}
  else
    redis.call('SREM', prefix .. ':workers', name)
  end
end
return out
