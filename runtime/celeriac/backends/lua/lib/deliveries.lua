-- Shared by requeue.lua and reclaim.lua (spliced in at load time: see redis_scripts.py).
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
