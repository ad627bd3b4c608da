-- Delete up to 1000 waiting and prioritized jobs (and delayed ones when ARGV[3] = '1').
-- Returns how many were deleted; the caller repeats until 0.
local n = 0
local function drop(id)
  delete_unfinished(id)
  n = n + 1
end
local ids = rcall('RPOP', K_WAIT, 1000)
if ids then for i = 1, #ids do drop(ids[i]) end end
local function drop_zset(key)
  local r = rcall('ZPOPMIN', key, 1000)
  for i = 1, #r, 2 do drop(r[i]) end
end
drop_zset(K_PRIO)
if ARGV[3] == '1' then drop_zset(K_DELAYED) end
if n > 0 then emit('drained', '', 'count', n) end
return n
