-- Delete up to 1000 dead letters (the jobs, their logs and history).  Returns how many;
-- the caller repeats until 0.
local out = rcall('ZPOPMIN', K_DEAD, 1000)
local n = 0
for i = 1, #out, 2 do
  local id = out[i]
  rcall('ZREM', K_FAILED, id)
  delete_job(id)
  emit('removed', id, 'state', 'failed', 'reason', 'purged')
  n = n + 1
end
return n
