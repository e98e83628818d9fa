--[[
  Fire (or just record) one schedule entry's tick, exactly once: the fenced,
  compare-and-set write of the entry's state together with the message it publishes.

  Refuses unless (1) the caller's lease value is still the current lease (a paused old
  leader whose lease expired or was taken over cannot fire: its token is stale), (2) the
  entry still exists (and is enabled, when asked), and (3) the entry's state record is
  byte-for-byte the one the caller read. (3) makes every tick fire at most once: once a
  tick is handled its state (last_run) changes, and any other writer's commit based on
  the older state is refused.

  KEYS[1] lease key, KEYS[2] specs hash (celeriac:schedules), KEYS[3] states hash
  (celeriac:schedules:state)
  ARGV[1] key prefix ("celeriac"), ARGV[2] lease value ("" = unfenced: API run-now),
  ARGV[3] entry name, ARGV[4] expected state JSON ("" = no state yet),
  ARGV[5] new state JSON, ARGV[6] "1" to require the entry enabled, ARGV[7] now (epoch ms),
  ARGV[8] msgpack list of messages to publish (packed without the bin type):
    { {queue, step, task_id, content_type, body, eta_ms (0: now)}, ... }

  Returns: 1 written, 0 state changed meanwhile (re-read), -1 fenced (lease lost),
  -2 entry removed, -3 entry paused.
]]
local prefix, fence, name = ARGV[1], ARGV[2], ARGV[3]
if fence ~= '' and redis.call('GET', KEYS[1]) ~= fence then return -1 end
local spec = redis.call('HGET', KEYS[2], name)
if not spec then return -2 end
if ARGV[6] == '1' then
  local ok, decoded = pcall(cjson.decode, spec)
  if ok and type(decoded) == 'table' and decoded['enabled'] == false then return -3 end
end
local current = redis.call('HGET', KEYS[3], name) or ''
if current ~= ARGV[4] then return 0 end

local now = tonumber(ARGV[7])
for _, m in ipairs(cmsgpack.unpack(ARGV[8])) do
  local queue, step, id, ct, body, eta = m[1], tonumber(m[2]), m[3], m[4], m[5], tonumber(m[6])
  if eta > 0 and eta > now then
    redis.call('ZADD', prefix .. ':delayed:' .. queue, eta,
      tostring(step) .. '\n' .. id .. '\n' .. ct .. '\n' .. body)
  elseif step == 0 then
    redis.call('XADD', prefix .. ':queue:' .. queue, '*', 'id', id, 'content-type', ct, 'body', body)
  else
    redis.call('XADD', prefix .. ':queue:' .. queue .. ':p' .. step, '*',
      'id', id, 'content-type', ct, 'body', body)
  end
  redis.call('SADD', prefix .. ':queues', queue)
end
redis.call('HSET', KEYS[3], name, ARGV[5])
return 1
