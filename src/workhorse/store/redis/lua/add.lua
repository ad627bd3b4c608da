-- Add jobs atomically.  ARGV[3] = n, then 12 values per job (see store_job).
-- Returns {id1, created1, id2, created2, ...}; created = 0 when the id already existed.
local out = {}
local ready = false
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  local id, created, state = store_job(i, false)
  if state == 'waiting' or state == 'prioritized' then ready = true end
  out[#out + 1] = id
  out[#out + 1] = created
  i = i + 12
end
if ready then wake() end
return out
