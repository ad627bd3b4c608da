-- Run without the queue prelude.  KEYS[1] the workers' info hash, KEYS[2] their
-- heartbeat-expiry zset; ARGV[1] now (ms).  Prunes the workers whose heartbeat
-- expired, then returns the info hash of the live ones (id, JSON, id, JSON, ...).
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #gone > 0 then
  redis.call('ZREM', KEYS[2], unpack(gone))
  redis.call('HDEL', KEYS[1], unpack(gone))
end
return redis.call('HGETALL', KEYS[1])
