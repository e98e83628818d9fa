--[[
  Write a batch of finished work in one step: publish follow-up messages, store results
  (and wake their waiters), dead-letter rejected messages, ack and delete the rest, and
  append events. The whole batch arrives as ONE msgpack argument, so the client packs
  one blob instead of hundreds of command arguments (the client's per-argument cost is
  what bounds a worker's throughput, not Redis). Packed without the bin type, which
  the Lua msgpack library of Redis does not read.

  KEYS: none (the key names are built from the prefix below; single-node Redis)
  ARGV[1] key prefix ("celeriac"), ARGV[2] consumer group, ARGV[3] result ttl seconds
  (0: keep), ARGV[4] events maxlen, ARGV[5] now (epoch ms), ARGV[6] msgpack batch:
    { publish = { {queue, step, task_id, content_type, body, eta_ms (0: now)
                   [, dedup seconds: publish only if the task id is not already guarded]
                   [, token: skip if celeriac:sent:{task_id} holds it (a retried call)]}, ... },
      sent_ttl = ms the celeriac:sent:{task_id} markers live (when tokens are given),
      results = { {task_id, 0, {field, value, ...}}         -- not ready: HSET into the hash
                  {task_id, 1, packed record}, ... },       -- ready: the done list's element
      dead    = { {queue, step, entry_id, reason}, ... },
      acks    = { {queue, step, {entry_id, ...}}, ... },
      events  = { {field, value, ...}, ... },      -- one stream entry each
      event_batch = msgpack of a list of events (maps, or flat field/value lists),
      event_count = n,
                                                  -- one stream entry for them all
      chords  = { {group_id, index, size, value, failed 0|1, ttl seconds,
                   { {queue, step, task_id, content_type, body, eta_ms}, ... } (the callback)}, ... },
      queues  = { queue, ... },  -- queue names to add to the known-queues set
      running = {consumer, seq, snapshot, ttl ms} -- what the worker runs now: stored in
                 <prefix>:running:{consumer} unless a newer seq is there (live_workers.lua) }

  A ready result also flips the task's enqueue-once marker (<prefix>:once:{id}, if any) to
  state finished, expiring 2 x result ttl from now (enqueue_once.lua).

  Returns: number of entries acked (an ack of an entry that is no longer held counts 0:
  another worker reclaimed it, so this delivery ran twice).
]]
local prefix, group = ARGV[1], ARGV[2]
local ttl, maxlen, now = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local batch = cmsgpack.unpack(ARGV[6])

--#include stream_key

for _, m in ipairs(batch.publish or {}) do
  local queue, step, id, ct, body, eta = m[1], m[2], m[3], m[4], m[5], tonumber(m[6])
  local dedup, token = tonumber(m[7] or 0), m[8]
  if dedup > 0 and not redis.call('SET', prefix .. ':dedup:' .. id, '1', 'NX', 'EX', dedup) then
    -- the same task id is already queued, delayed or running: enqueue nothing
  elseif token and redis.call('SET', prefix .. ':sent:' .. id, token, 'PX', batch.sent_ttl, 'GET') == token then
    -- a retried producer call whose first attempt was written (its reply was lost)
  elseif eta > 0 and eta > tonumber(now) then
    redis.call('ZADD', prefix .. ':delayed:' .. queue, eta,
      tostring(step) .. '\n' .. id .. '\n' .. ct .. '\n' .. body)
  else
    redis.call('XADD', stream_key(queue, step), '*', 'id', id, 'content-type', ct, 'body', body)
  end
end

for _, q in ipairs(batch.queues or {}) do
  redis.call('SADD', prefix .. ':queues', q)
end

-- the record's own fields: a new record overwrites them all (the rest are extras, merged)
local CORE = {status = true, ['content-type'] = true, result = true, traceback = true, date_done = true,
  task = true, worker = true, retries = true, queue = true, parent_id = true, root_id = true, group = true,
  children = true}

for _, r in ipairs(batch.results or {}) do
  local id, ready, value = r[1], r[2], r[3]
  local key = prefix .. ':result:' .. id
  if tonumber(ready) == 1 then
    -- the final record, packed by the client, is the one copy: the live hash goes, its
    -- extras (date_started, progress fields...) merged in as a hash write would have
    local done = prefix .. ':done:' .. id
    local live = redis.call('HGETALL', key)
    if live[1] then
      local map = cmsgpack.unpack(value)
      for i = 1, #live, 2 do
        if map[live[i]] == nil and not CORE[live[i]] then map[live[i]] = live[i + 1] end
      end
      value = cmsgpack.pack(map)
    end
    redis.call('DEL', key, done, prefix .. ':dedup:' .. id)
    redis.call('RPUSH', done, value)
    local once = prefix .. ':once:' .. id
    if ttl > 0 then
      redis.call('EXPIRE', done, ttl)
      -- the marker (if this task was enqueued once) outlives the record: "expired", not "unknown"
      if redis.call('EXPIRE', once, 2 * ttl) == 1 then redis.call('HSET', once, 'state', 'finished') end
    elseif redis.call('EXISTS', once) == 1 then
      redis.call('HSET', once, 'state', 'finished')
    end
  else
    redis.call('HSET', key, unpack(value))
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  end
end

-- Chord joins: the header result goes to slot `index` of the chord's hash (idempotent on
-- redelivery); the last slot filled (size + the members added since), or the first
-- failure, publishes the callback once.
for _, c in ipairs(batch.chords or {}) do
  local key = prefix .. ':chord:' .. c[1]
  local size, failed, cttl = tonumber(c[3]), tonumber(c[5]), tonumber(c[6])
  local complete
  if failed == 1 then
    redis.call('HSETNX', key, 'failed', c[4])
    complete = true
  else
    redis.call('HSET', key, tostring(c[2]), c[4])
    -- members added by Task.add_to_chord (INCR of <chord>:extra) grow the expected size
    local extra = tonumber(redis.call('GET', key .. ':extra') or '0') or 0
    complete = redis.call('HLEN', key) >= size + extra
  end
  redis.call('EXPIRE', key, cttl)
  if complete and redis.call('SET', key .. ':fired', '1', 'NX', 'EX', cttl) then
    for _, m in ipairs(c[7]) do
      local queue, step, id, ct, body, eta = m[1], m[2], m[3], m[4], m[5], tonumber(m[6])
      if eta > 0 and eta > tonumber(now) then
        redis.call('ZADD', prefix .. ':delayed:' .. queue, eta,
          tostring(step) .. '\n' .. id .. '\n' .. ct .. '\n' .. body)
      else
        redis.call('XADD', stream_key(queue, step), '*', 'id', id, 'content-type', ct, 'body', body)
      end
    end
  end
end

for _, d in ipairs(batch.dead or {}) do
  local queue, step, id, reason = d[1], d[2], d[3], d[4]
  local stream = stream_key(queue, step)
  local found = redis.call('XRANGE', stream, id, id)
  if found[1] then
    local fields = found[1][2]
    fields[#fields + 1] = 'reason'
    fields[#fields + 1] = reason
    fields[#fields + 1] = 'stream'
    fields[#fields + 1] = stream
    fields[#fields + 1] = 'time'
    fields[#fields + 1] = now
    redis.call('XADD', prefix .. ':dead:' .. queue, '*', unpack(fields))
  end
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
end

local acked = 0
for _, a in ipairs(batch.acks or {}) do
  local stream = stream_key(a[1], a[2])
  acked = acked + redis.call('XACK', stream, group, unpack(a[3]))
  redis.call('XDEL', stream, unpack(a[3]))
end

if batch.running then
  local r = batch.running
  local key = prefix .. ':running:' .. r[1]
  local current = redis.call('GET', key)
  if not current or (tonumber(string.match(current, '^(%d+)')) or 0) < tonumber(r[2]) then
    redis.call('SET', key, r[3], 'PX', r[4])
  end
end

for _, e in ipairs(batch.events or {}) do
  redis.call('XADD', prefix .. ':events', 'MAXLEN', '~', maxlen, '*', unpack(e))
end
if batch.event_batch then
  -- Several task events as one entry (one XADD instead of one per task): readers expand
  -- it (celeriac.backends.redis_observe.expand_entry). maxlen counts events, so an entry
  -- of n events trims the stream to maxlen / n entries.
  local entries = math.max(1, math.floor(tonumber(maxlen) / tonumber(batch.event_count)))
  redis.call('XADD', prefix .. ':events', 'MAXLEN', '~', entries, '*',
    'type', 'batch', 'count', batch.event_count, 'events', batch.event_batch)
end
return acked
