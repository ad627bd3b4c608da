-- Run without the queue prelude.  KEYS[1] the schedules' next-tick zset.  Move schedule
-- ARGV[1] from tick ARGV[2] to ARGV[3] only if it is still at ARGV[2]; returns 1 or 0.
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if at and tonumber(at) == tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
