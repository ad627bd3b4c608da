-- Move finished jobs back to waiting with fresh attempts.  ARGV[3] state (failed or
-- completed), ARGV[4] limit, ARGV[5..] ids (none: the oldest `limit` jobs in that state).
-- Returns the number moved, or -1 when a named job was not in that state.
local state = ARGV[3]
local set = (state == 'completed') and K_COMPLETED or K_FAILED
local ids = {}
for i = 5, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then ids = rcall('ZRANGE', set, 0, tonumber(ARGV[4]) - 1) end
local n = 0
for i = 1, #ids do
  local id = ids[i]
  local jk = jkey(id)
  if rcall('ZREM', set, id) == 1 then
    rerun(id, jk)
    emit('waiting', id, 'retried', '1')
    n = n + 1
  elseif #ARGV >= 5 then
    return -1
  end
end
if n > 0 then wake() end
return n
