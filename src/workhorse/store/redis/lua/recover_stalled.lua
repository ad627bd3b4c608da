-- Requeue active jobs whose lock expired (their worker died or hung); fail those
-- stalled more than ARGV[3] times, and cancelled ones.  Returns {requeued, failed}.
local max_stalled = tonumber(ARGV[3])
local ids = rcall('ZRANGEBYSCORE', K_ACTIVE, '-inf', NOW, 'LIMIT', 0, 1000)
local requeued, failed = {}, {}
for i = 1, #ids do
  local id = ids[i]
  local jk = jkey(id)
  rcall('ZREM', K_ACTIVE, id)
  group_left(jk, rcall('HGET', jk, 'gc'))
  rcall('HDEL', jk, 'token')
  local stalls = rcall('HINCRBY', jk, 'stalls', 1)
  emit('stalled', id, 'count', stalls)
  local attempt = (tonumber(rcall('HGET', jk, 'made')) or 0) + 1
  if rcall('HGET', jk, 'cancel') == '1' then
    fail_now(id, jk, 'cancelled', '', attempt)
    failed[#failed + 1] = id
  elseif stalls > max_stalled then
    fail_now(id, jk, 'job stalled more than ' .. max_stalled .. ' time(s)', '', attempt)
    failed[#failed + 1] = id
  else
    make_ready(id, jk, job_prio(jk))
    emit('waiting', id)
    requeued[#requeued + 1] = id
  end
end
-- Failed ones free places too (concurrency limits): wake a worker either way.
if #ids > 0 then wake() end
return {requeued, failed, rcall('LLEN', K_OUTBOX)}
