-- When the job that has been ready longest became ready (ms), or false when none is.
-- Candidates: the tail of the waiting list (the oldest there), the first job of each
-- priority level (FIFO within a level; one ZRANGEBYSCORE per level, so the cost is
-- the number of levels in use, not of jobs), and the earliest delayed job if it is
-- past due (a due job is ready even when no worker has promoted it yet).
local best = nil
local function consider(at)
  if at and (best == nil or at < best) then best = at end
end
local function ready_at(id)
  local f = rcall('HMGET', jkey(id), 'rdy', 'ts')
  return tonumber(f[1]) or tonumber(f[2])
end
local tail = rcall('LINDEX', K_WAIT, -1)
if tail then consider(ready_at(tail)) end
local first = rcall('ZRANGE', K_PRIO, 0, 0, 'WITHSCORES')
local levels = 0
while first[1] and levels < 1000 do
  consider(ready_at(first[1]))
  local level = math.floor(tonumber(first[2]) / 4294967296)
  first = rcall('ZRANGEBYSCORE', K_PRIO, (level + 1) * 4294967296, '+inf', 'WITHSCORES',
    'LIMIT', 0, 1)
  levels = levels + 1
end
local due = rcall('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
if due[2] and tonumber(due[2]) <= NOW then consider(tonumber(due[2])) end
if best == nil then return false end
return best
