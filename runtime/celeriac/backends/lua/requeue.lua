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
-- Why a message is dead-lettered after MAX deliveries, from its history lines: a worker
-- process that crashed running it each time points at the message (a poison message);
-- lost leases point at nodes (lost, frozen or cut off from Redis).
local function lost_reason(deliveries, history)
  local crashed, lost, other = 0, 0, 0
  for line in string.gmatch(history or '', '[^\n]+') do
    if string.find(line, ' lease expired', 1, true) then lost = lost + 1
    elseif string.find(line, ' crashed', 1, true) or string.find(line, ' killed', 1, true) then
      crashed = crashed + 1
    else other = other + 1 end
  end
  local parts = {}
  if crashed > 0 then parts[#parts + 1] = 'its worker process died ' .. crashed .. ' time(s) running it' end
  if lost > 0 then parts[#parts + 1] = 'its lease expired ' .. lost .. ' time(s) (worker node lost or frozen)' end
  if other > 0 then parts[#parts + 1] = 'handed back unfinished ' .. other .. ' time(s)' end
  local why = table.concat(parts, ', ')
  if crashed > 0 and lost == 0 and other == 0 then why = why .. ': a poison message?' end
  return 'delivered ' .. deliveries .. ' times without being acknowledged (' .. why .. '; see history)'
end
-- `deliveries` as a stranger may have written it: a count, or nil when it is not one
local function count_of(value)
  if type(value) ~= 'string' or #value > 9 or not string.match(value, '^%d+$') then return nil end
  return tonumber(value)
end
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
