--[[
  Publish one message now, at most once per publish call even when the call is retried
  after a lost reply (the write applied, the answer never came back): the producer sends
  the same token on every attempt of one call, and the marker key remembers the token of
  the last write for a short while (PUBLISH_MARKER_MS in redis.py, longer than the
  producer's retry window). A retry that finds its own token enqueues nothing.

  KEYS[1] the stream, KEYS[2] the marker key (celeriac:sent:{task id})
  ARGV[1] task id, ARGV[2] content type, ARGV[3] body, ARGV[4] token, ARGV[5] marker ttl ms

  Returns: 1 published, 0 already published by an earlier attempt of this call.
]]
local old = redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5], 'GET')
if old == ARGV[4] then return 0 end
redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'content-type', ARGV[2], 'body', ARGV[3])
return 1
