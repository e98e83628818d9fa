--[[
  Give held messages back to the tail of their stream at once (a worker shutting down
  returns what it prefetched but never started), then ack and delete the originals.

  KEYS[1]   the stream
  ARGV[1] group, ARGV[2] 1 to count this as a delivery, 0 not to, ARGV[3..] entry ids

  Returns: number of messages requeued (entries already gone are skipped).
]]
local stream, group = KEYS[1], ARGV[1]
local count_delivery = ARGV[2] == '1'
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local acked = redis.call('XACK', stream, group, id)
  if acked == 1 then
    local found = redis.call('XRANGE', stream, id, id)
    if found[1] then
      local fields = found[1][2]
      local copy, deliveries = {}, 0
      for f = 1, #fields, 2 do
        if fields[f] == 'deliveries' then
          deliveries = tonumber(fields[f + 1])
        else
          copy[#copy + 1] = fields[f]
          copy[#copy + 1] = fields[f + 1]
        end
      end
      if count_delivery then deliveries = deliveries + 1 end
      if deliveries > 0 then
        copy[#copy + 1] = 'deliveries'
        copy[#copy + 1] = tostring(deliveries)
      end
      redis.call('XADD', stream, '*', unpack(copy))
      n = n + 1
    end
    redis.call('XDEL', stream, id)
  end
end
return n
