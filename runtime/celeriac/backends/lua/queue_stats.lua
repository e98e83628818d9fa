--[[
  Depth figures of any number of queues in one round trip (docs/observability.md,
  "Queue statistics"), read from the broker alone: no worker needs to run.

  KEYS: none (key names built from the prefix, as settle.lua)
  ARGV[1] key prefix, ARGV[2] consumer group, ARGV[3] now (epoch ms), ARGV[4] NS (number
  of priority steps), ARGV[5 .. 4+NS] the steps, most urgent first, ARGV[5+NS ..] queues

  Returns, per queue: { waiting per step (NS integers, in ARGV's step order), in flight,
    oldest waiting entry's id time (epoch ms, -1: nothing waits), delayed (all), due,
    dead, consumers }
  Waiting = stream length - entries delivered and not acked (acked entries are deleted);
  the oldest waiting entry is the first one after the group's last-delivered id.
  Consumers = live registered workers (<prefix>:worker:{name}, JSON) listing the queue.
]]
local prefix, group, now, ns = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local steps = {}
for s = 1, ns do steps[s] = ARGV[4 + s] end

--#include stream_key

-- consumers per queue, from the worker registry (a handful of small JSON values)
local consumers = {}
for _, name in ipairs(redis.call('SMEMBERS', prefix .. ':workers')) do
  local raw = redis.call('GET', prefix .. ':worker:' .. name)
  if raw then
    local ok, info = pcall(cjson.decode, raw)
    if ok and type(info) == 'table' and type(info.queues) == 'table' then
      for _, q in ipairs(info.queues) do consumers[q] = (consumers[q] or 0) + 1 end
    end
  end
end

local out = {}
for qi = 5 + ns, #ARGV do
  local queue = ARGV[qi]
  local row = {}
  local pending_total, oldest = 0, -1
  for s = 1, ns do
    local key = stream_key(queue, steps[s])
    local waiting = 0
    if redis.call('EXISTS', key) == 1 then
      local len = redis.call('XLEN', key)
      local pending, last = 0, '0-0'
      local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', key)
      if ok then
        for _, g in ipairs(groups) do
          local f = {}
          for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
          if f['name'] == group then
            pending, last = tonumber(f['pending']), f['last-delivered-id']
          end
        end
      end
      waiting = math.max(0, len - pending)
      pending_total = pending_total + pending
      if waiting > 0 then
        local first
        if last == '0-0' then
          first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
        else
          first = redis.call('XRANGE', key, '(' .. last, '+', 'COUNT', 1)
        end
        if first[1] then
          local ms = tonumber(string.match(first[1][1], '^(%d+)'))
          if oldest < 0 or ms < oldest then oldest = ms end
        end
      end
    end
    row[s] = waiting
  end
  local delayed_key = prefix .. ':delayed:' .. queue
  row[ns + 1] = pending_total
  row[ns + 2] = oldest
  row[ns + 3] = redis.call('ZCARD', delayed_key)
  row[ns + 4] = redis.call('ZCOUNT', delayed_key, '-inf', now)
  row[ns + 5] = redis.call('XLEN', prefix .. ':dead:' .. queue)
  row[ns + 6] = consumers[queue] or 0
  out[#out + 1] = row
end
return out
