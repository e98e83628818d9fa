--[[
  Extend (or release) the beat leader lease, only if this holder still has it.

  Compare-and-extend: a leader whose lease expired and was taken by another replica gets
  0 and must stop firing (its commits would be refused anyway: they check the same value).

  KEYS[1] the lease key
  ARGV[1] the lease value "<token> <holder>", ARGV[2] new ttl (ms); 0 releases the lease

  Returns: 1 extended (or released), 0 not held by this value.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
