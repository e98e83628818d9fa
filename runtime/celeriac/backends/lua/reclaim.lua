--[[
  Hand back messages whose consumer stopped refreshing them (a dead or frozen worker).
  Each stalled entry is re-added at the tail of its stream with its delivery count raised,
  or moved to the dead-letter stream once it has been delivered MAX times; the original
  entry is acked and deleted. Live workers refresh their entries (XCLAIM ... JUSTID), so
  only the entries of dead consumers ever get this idle.

  KEYS[1 .. N]     streams to scan
  KEYS[N+1 .. 2N]  the dead-letter stream of each of those streams' queue
  ARGV[1] group, ARGV[2] reclaiming consumer name, ARGV[3] min idle ms,
  ARGV[4] max deliveries, ARGV[5] N, ARGV[6] batch size, ARGV[7] now (epoch ms)

  Returns: { requeued, dead_lettered }
]]
local group, me = ARGV[1], ARGV[2]
local min_idle, max_deliveries = tonumber(ARGV[3]), tonumber(ARGV[4])
local n, batch = tonumber(ARGV[5]), tonumber(ARGV[6])
--#include deliveries
local requeued, dead = 0, 0
for i = 1, n do
  local stream, dlq = KEYS[i], KEYS[n + i]
  local res = redis.call('XAUTOCLAIM', stream, group, me, min_idle, '0-0', 'COUNT', batch)
  for _, entry in ipairs(res[2]) do
    local id, fields = entry[1], entry[2]
    if fields then
      local deliveries = 1
      local copy = {}
      local history = ARGV[7] .. ' lease expired (its worker stopped refreshing it)'
      local invalid = nil
      for f = 1, #fields, 2 do
        if fields[f] == 'deliveries' then
          local prior = count_of(fields[f + 1])
          if prior then
            deliveries = prior + 1
          else  -- not a count: the next worker dead-letters it with this reason
            invalid = "field 'deliveries' is not a non-negative integer"
          end
        elseif fields[f] == 'invalid' then
          invalid = fields[f + 1]
        elseif fields[f] == 'history' then
          history = fields[f + 1] .. '\n' .. history
        else
          copy[#copy + 1] = fields[f]
          copy[#copy + 1] = fields[f + 1]
        end
      end
      copy[#copy + 1] = 'deliveries'
      copy[#copy + 1] = tostring(deliveries)
      copy[#copy + 1] = 'history'
      copy[#copy + 1] = history
      if invalid then
        copy[#copy + 1] = 'invalid'
        copy[#copy + 1] = invalid
      end
      if deliveries >= max_deliveries then
        copy[#copy + 1] = 'reason'
        copy[#copy + 1] = lost_reason(deliveries, history)
        copy[#copy + 1] = 'stream'
        copy[#copy + 1] = stream
        copy[#copy + 1] = 'time'
        copy[#copy + 1] = ARGV[7]
        redis.call('XADD', dlq, '*', unpack(copy))
        dead = dead + 1
      else
        redis.call('XADD', stream, '*', unpack(copy))
        requeued = requeued + 1
      end
    end
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
  end
end
return { requeued, dead }
