-- Delete up to ARGV[5] jobs in state ARGV[3] older than ARGV[4] (ms timestamp): by finish
-- time for completed/failed, by creation time otherwise.  Returns the removed ids.
local state, cutoff, limit = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
local candidates
if state == 'completed' or state == 'failed' then
  local set = (state == 'completed') and K_COMPLETED or K_FAILED
  candidates = rcall('ZRANGEBYSCORE', set, '-inf', cutoff, 'LIMIT', 0, limit)
elseif state == 'waiting' then
  -- The list's tail is its oldest job: walk it oldest first, like the sets.
  local newest_first = rcall('LRANGE', K_WAIT, 0, -1)
  candidates = {}
  for i = #newest_first, 1, -1 do candidates[#candidates + 1] = newest_first[i] end
elseif state == 'prioritized' then
  candidates = rcall('ZRANGE', K_PRIO, 0, -1)
elseif state == 'delayed' then
  candidates = rcall('ZRANGE', K_DELAYED, 0, -1)
else
  return out
end
for i = 1, #candidates do
  if #out >= limit then break end
  local id = candidates[i]
  local ts = tonumber(rcall('HGET', jkey(id), 'ts')) or 0
  if state == 'completed' or state == 'failed' or ts <= cutoff then
    unlink_from(state, id)
    if state == 'completed' or state == 'failed' then delete_job(id) else delete_unfinished(id) end
    emit('removed', id, 'state', state)
    out[#out + 1] = id
  end
end
return out
