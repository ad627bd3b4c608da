-- Run without the queue prelude.  KEYS[1] the schedules' spec hash, KEYS[2] their
-- next-tick zset.  Store schedule ARGV[1] with spec ARGV[2] and next tick ARGV[3],
-- unless that very spec is stored already.  Returns 1 when created or changed.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
