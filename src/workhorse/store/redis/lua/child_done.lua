-- A child of job ARGV[3] (in this queue) finished: ARGV[4] its ref, ARGV[5] 'c'
-- (completed, ARGV[6] its result JSON) or 'f' (failed for good, ARGV[6] the reason),
-- ARGV[7] '1' when its failure fails this parent.  Idempotent: a repeated notice finds
-- the ref no longer pending and changes nothing.  Returns 1 when this step left a
-- notice for the parent's own parent in the outbox, else 0.
local id, ref, kind, value = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if rcall('SREM', BASE .. 'pend:' .. id, ref) == 0 then return 0 end
local jk = jkey(id)
rcall('HSET', BASE .. (kind == 'c' and 'cv:' or 'cf:') .. id, ref, value)
if rcall('HGET', jk, 'state') ~= 'waiting-children' then return 0 end
if kind == 'f' and ARGV[7] == '1' then
  rcall('ZREM', K_WCHILD, id)
  local made = tonumber(rcall('HGET', jk, 'made')) or 0
  fail_now(id, jk, 'child ' .. ref .. ' failed: ' .. value, '', made + 1)
  return rcall('HEXISTS', jk, 'pq') == 1 and 1 or 0
end
if rcall('SCARD', BASE .. 'pend:' .. id) == 0 then
  rcall('ZREM', K_WCHILD, id)
  local delay = tonumber(rcall('HGET', jk, 'hdelay'))
  if delay then
    rcall('ZADD', K_DELAYED, NOW + delay, id)
    rcall('HSET', jk, 'state', 'delayed', 'due', NOW + delay)
    wake_at(NOW + delay)
    emit('delayed', id, 'children', 'done', 'delay', delay)
  else
    make_ready(id, jk, job_prio(jk))
    emit('waiting', id, 'children', 'done')
    wake()
  end
end
return 0
