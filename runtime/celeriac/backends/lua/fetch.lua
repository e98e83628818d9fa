--[[
  Fetch up to COUNT ready messages, most urgent priority first, after moving due delayed
  messages into their streams. One round trip for the common (non-blocking) fetch.

  KEYS[1]                      revoked ids (zset: member task id, score = expiry epoch ms)
  KEYS[2 .. 1+NQ]              delayed zset of each queue (score = eta epoch ms)
  KEYS[2+NQ .. 1+NQ+NQ*NS]     streams: for each priority step (most urgent first),
                               for each queue (in the order the consumer listed them)
  ARGV[1] group, ARGV[2] consumer, ARGV[3] count, ARGV[4] now (epoch ms),
  ARGV[5] NQ (queues), ARGV[6] NS (priority steps), ARGV[7] promote limit per queue
  ARGV[8 .. 7+NS]              the priority steps, in the same order as the stream keys

  Returns: { next_due_ms | -1, revoked count,
             { key_index, entry_id, {field, value, ...}, revoked 0|1 }, ... }
  where key_index is the 1-based index of the stream among the stream keys.
  Delayed members are "<step>\n<task id>\n<content type>\n<body>".
]]
local group, consumer = ARGV[1], ARGV[2]
local count = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local nq, ns = tonumber(ARGV[5]), tonumber(ARGV[6])
local limit = tonumber(ARGV[7])
local first_stream = 2 + nq

local step_index = {}
for s = 1, ns do step_index[ARGV[7 + s]] = s end

-- 1. promote due delayed messages of every queue. A member that is not
-- "<step>\n<id>\n<content type>\n<body>" is still moved (to the step-0 stream) with an
-- `invalid` field naming what is wrong, so the worker dead-letters it instead of this
-- script failing on every fetch.
local function read_member(member)
  local a = string.find(member, '\n', 1, true)
  local b = a and string.find(member, '\n', a + 1, true)
  local c = b and string.find(member, '\n', b + 1, true)
  if not c then
    local id = ''
    if b then id = string.sub(member, a + 1, b - 1) end
    return nil, id, '', member, 'delayed member has fewer than 4 newline-separated fields'
  end
  local step, id = string.sub(member, 1, a - 1), string.sub(member, a + 1, b - 1)
  local ct, body = string.sub(member, b + 1, c - 1), string.sub(member, c + 1)
  if not step_index[step] then
    return nil, id, ct, body, 'delayed member has an unknown priority step (allowed 0, 3, 6, 9)'
  end
  return step_index[step], id, ct, body, nil
end

local next_due = -1
for q = 1, nq do
  local zkey = KEYS[1 + q]
  local due = redis.pcall('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, limit)
  if due.err then due = {} end  -- not a sorted set: nothing to promote (never stop the queue)
  for _, member in ipairs(due) do
    local s, id, ct, body, invalid = read_member(member)
    local stream = KEYS[first_stream + ((s or ns) - 1) * nq + (q - 1)]
    if invalid then
      redis.call('XADD', stream, '*', 'id', id, 'content-type', ct, 'body', body, 'invalid', invalid)
    else
      redis.call('XADD', stream, '*', 'id', id, 'content-type', ct, 'body', body)
    end
    redis.call('ZREM', zkey, member)
  end
  local head = redis.pcall('ZRANGE', zkey, 0, 0, 'WITHSCORES')
  if not head.err and head[2] then
    local score = tonumber(head[2])
    if next_due < 0 or score < next_due then next_due = score end
  end
end

-- 2. read, most urgent stream first, until COUNT messages
local revocations = redis.pcall('ZCARD', KEYS[1])
if type(revocations) ~= 'number' then revocations = 0 end
local out = { next_due, revocations }
local wanted = count
for i = 0, nq * ns - 1 do
  if wanted <= 0 then break end
  local key = KEYS[first_stream + i]
  local res = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', wanted, 'STREAMS', key, '>')
  if res then
    for _, entry in ipairs(res[1][2]) do
      local fields = entry[2]
      local revoked = 0
      for f = 1, (revocations > 0 and #fields or 0), 2 do
        if fields[f] == 'id' then
          local score = redis.call('ZSCORE', KEYS[1], tostring(fields[f + 1]))
          if score and tonumber(score) > now then revoked = 1 end
          break
        end
      end
      out[#out + 1] = { i + 1, entry[1], fields, revoked }
      wanted = wanted - 1
    end
  end
end
return out
