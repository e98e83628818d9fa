--[[
  Enqueue messages whose task id was never enqueued within the keep window: the check,
  the marker and the XADD / ZADD are one atomic step, so two producers racing with the
  same id enqueue it once (docs/guarantees.md, "Enqueue once").

  A task id counts as already enqueued while any of these exists:
    <prefix>:once:{id}    its enqueue-once marker (hash: state queued|finished, enqueued
                          (epoch ms), queue, task); expires keep + delay seconds after the
                          enqueue, and 2 x keep seconds after its result was recorded
                          (settle.lua flips state to finished and re-arms the expiry)
    <prefix>:done:{id}, <prefix>:result:{id}   a result record
    <prefix>:dedup:{id}   the publish-once guard of apply_async(task_id=...)

  KEYS: none (key names built from the prefix; single-node Redis, as settle.lua)
  ARGV[1] key prefix, ARGV[2] now (epoch ms), ARGV[3] keep seconds (0: markers never
  expire), ARGV[4] events maxlen, ARGV[5] msgpack list of
    {queue, step, task_id, content_type, body, eta_ms (0: now), task name,
     {event field, value, ...} or empty (the task-sent event)}
  ARGV[6] msgpack list of queue names to add to the known-queues set

  Returns: one integer per message, 1 enqueued, 0 already enqueued.
]]
local prefix, now, keep, maxlen = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local messages = cmsgpack.unpack(ARGV[5])

local out = {}
for i, m in ipairs(messages) do
  local queue, step, id, ct, body, eta, name, event = m[1], m[2], m[3], m[4], m[5], tonumber(m[6]), m[7], m[8]
  local once = prefix .. ':once:' .. id
  if redis.call('EXISTS', once, prefix .. ':done:' .. id, prefix .. ':result:' .. id,
                prefix .. ':dedup:' .. id) > 0 then
    out[i] = 0
  else
    redis.call('HSET', once, 'state', 'queued', 'enqueued', now, 'queue', queue, 'task', name)
    if keep > 0 then
      local delay = 0
      if eta > now then delay = math.ceil((eta - now) / 1000) end
      redis.call('EXPIRE', once, keep + delay)
    end
    if eta > 0 and eta > now then
      redis.call('ZADD', prefix .. ':delayed:' .. queue, eta,
        tostring(step) .. '\n' .. id .. '\n' .. ct .. '\n' .. body)
    elseif tonumber(step) == 0 then
      redis.call('XADD', prefix .. ':queue:' .. queue, '*', 'id', id, 'content-type', ct, 'body', body)
    else
      redis.call('XADD', prefix .. ':queue:' .. queue .. ':p' .. step, '*', 'id', id, 'content-type', ct,
        'body', body)
    end
    if event and event[1] then
      redis.call('XADD', prefix .. ':events', 'MAXLEN', '~', maxlen, '*', unpack(event))
    end
    out[i] = 1
  end
end
for _, q in ipairs(cmsgpack.unpack(ARGV[6])) do
  redis.call('SADD', prefix .. ':queues', q)
end
return out
