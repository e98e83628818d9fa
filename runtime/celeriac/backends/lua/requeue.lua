--[[
  Give held messages back to the tail of their stream at once (a worker shutting down
  returns what it prefetched but never started; a prefork supervisor returns what a dead
  child held), then ack and delete the originals. When the hand-back counts as a
  delivery (the holder died) and the message has now been delivered MAX times, it goes
  to the dead-letter stream instead, so a message that kills its worker cannot loop.
  Each counted hand-back appends "<epoch ms> <holder>" to the entry's ``history`` field.

  KEYS[1]   the stream, KEYS[2] the dead-letter stream of its queue
  ARGV[1] group, ARGV[2] 1 to count this as a delivery, 0 not to, ARGV[3] max deliveries
  (0: no limit), ARGV[4] holder (consumer name, for the history), ARGV[5] now (epoch ms),
  ARGV[6..] entry ids

  Returns: number of messages requeued or dead-lettered (entries already gone are skipped).
]]
local stream, dlq, group = KEYS[1], KEYS[2], ARGV[1]
local count_delivery = ARGV[2] == '1'
local max_deliveries = tonumber(ARGV[3])
local holder, now = ARGV[4], ARGV[5]
--#include deliveries
local n = 0
for i = 6, #ARGV do
  local id = ARGV[i]
  local acked = redis.call('XACK', stream, group, id)
  if acked == 1 then
    local found = redis.call('XRANGE', stream, id, id)
    if found[1] then
      local fields = found[1][2]
      local copy, deliveries, history, invalid = {}, 0, nil, nil
      for f = 1, #fields, 2 do
        if fields[f] == 'deliveries' then
          deliveries = count_of(fields[f + 1])
          if not deliveries then
            -- not a count: the next worker dead-letters it with this reason
            invalid = "field 'deliveries' is not a non-negative integer"
            deliveries = 0
          end
        elseif fields[f] == 'invalid' then
          invalid = fields[f + 1]
        elseif fields[f] == 'history' then
          history = fields[f + 1]
        else
          copy[#copy + 1] = fields[f]
          copy[#copy + 1] = fields[f + 1]
        end
      end
      if count_delivery then
        deliveries = deliveries + 1
        local line = now .. ' ' .. holder
        if history then history = history .. '\n' .. line else history = line end
      end
      if deliveries > 0 then
        copy[#copy + 1] = 'deliveries'
        copy[#copy + 1] = tostring(deliveries)
      end
      if history then
        copy[#copy + 1] = 'history'
        copy[#copy + 1] = history
      end
      if invalid then
        copy[#copy + 1] = 'invalid'
        copy[#copy + 1] = invalid
      end
      if count_delivery and max_deliveries > 0 and deliveries >= max_deliveries then
        copy[#copy + 1] = 'reason'
        copy[#copy + 1] = lost_reason(deliveries, history)
        copy[#copy + 1] = 'stream'
        copy[#copy + 1] = stream
        copy[#copy + 1] = 'time'
        copy[#copy + 1] = now
        redis.call('XADD', dlq, '*', unpack(copy))
      else
        redis.call('XADD', stream, '*', unpack(copy))
      end
      n = n + 1
    end
    redis.call('XDEL', stream, id)
  end
end
return n
