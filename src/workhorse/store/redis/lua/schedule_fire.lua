-- Fire one tick of a schedule in one step: add its job to this queue and move the
-- schedule to its next tick, only if it is still at that tick (another scheduler may
-- have fired it).  ARGV[3] the schedule key, ARGV[4] the tick, ARGV[5] the next tick,
-- ARGV[6..17] the 12 values of store_job.  KEYS: the queue's (see the prelude), then
-- the schedules' next-tick zset.  Returns {id, created}, or {} when the tick moved.
local nexts = KEYS[#KEYS]
local at = rcall('ZSCORE', nexts, ARGV[3])
if not at or tonumber(at) ~= tonumber(ARGV[4]) then return {} end
local id, created, state = store_job(6, false)
if state == 'waiting' or state == 'prioritized' then wake() end
rcall('ZADD', nexts, ARGV[5], ARGV[3])
return {id, created}
