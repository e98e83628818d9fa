-- A queue's stream for a priority step (redis.py's stream_key), from the script's `prefix`;
-- shared by settle.lua and queue_stats.lua (spliced in at load time: see redis_scripts.py).
local function stream_key(queue, step)
  if tonumber(step) == 0 then return prefix .. ':queue:' .. queue end
  return prefix .. ':queue:' .. queue .. ':p' .. step
end
