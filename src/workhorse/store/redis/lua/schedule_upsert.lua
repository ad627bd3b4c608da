-- Run without the queue prelude.  KEYS[1] the schedules' spec hash, KEYS[2] their
-- next-tick zset.  Store schedule ARGV[1] with spec ARGV[2] and next tick ARGV[3],
-- unless that very spec is stored already.  A paused schedule (next tick at or past
-- ARGV[4], SCHEDULE_PAUSED) keeps that tick: a changed definition stays paused.
-- Returns 1 when created or changed.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local at = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not (at and tonumber(at) >= tonumber(ARGV[4])) then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
