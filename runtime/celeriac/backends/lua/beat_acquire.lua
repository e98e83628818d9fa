--[[
  Take the beat leader lease if nobody holds it, with a new fencing token.

  The token comes from INCR on a counter that never goes down, so every leadership has a
  larger token than all before it; the lease value "<token> <holder>" is what
  beat_commit.lua compares before it fires anything.

  KEYS[1] the lease key (celeriac:beat:lease), KEYS[2] the token counter
  (celeriac:beat:token)
  ARGV[1] holder id, ARGV[2] lease ttl (ms)

  Returns: {token, value} when taken now; {0, current value} when someone holds it.
]]
local current = redis.call('GET', KEYS[1])
if current then return {0, current} end
local token = redis.call('INCR', KEYS[2])
local value = tostring(token) .. ' ' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {token, value}
