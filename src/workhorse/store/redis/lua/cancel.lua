-- Cancel a job.  ARGV[3] id.  Pending jobs fail now with reason 'cancelled'; an active
-- job is flagged and its worker stops it.  Returns the state it was in, or false.
local id = ARGV[3]
local jk = jkey(id)
local state = rcall('HGET', jk, 'state')
if not state then return false end
if state == 'active' then
  rcall('HSET', jk, 'cancel', '1')
  emit('cancelling', id)
elseif state == 'waiting' or state == 'prioritized' or state == 'delayed' then
  unlink_from(state, id)
  rcall('HSET', jk, 'cancel', '1')
  fail_now(id, jk, 'cancelled', '', (tonumber(rcall('HGET', jk, 'made')) or 0))
end
return state
