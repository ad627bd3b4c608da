-- Send dead letters back to waiting with fresh attempts (their history is kept).
-- ARGV[3] = 'id': ARGV[4] the job id; returns 1, or 0 when it is not a dead letter.
-- ARGV[3] = 'filter': look at ARGV[5] dead letters from position ARGV[4] (oldest
-- first), redriving those whose name is ARGV[6] ('' = any) and whose failure reason
-- contains ARGV[7] ('' = any); returns {redriven, looked at}.
local function redrive(id)
  if rcall('ZREM', K_DEAD, id) == 0 then return 0 end
  rcall('ZREM', K_FAILED, id)
  rerun(id, jkey(id))
  emit('waiting', id, 'redriven', '1')
  return 1
end

if ARGV[3] == 'id' then
  local n = redrive(ARGV[4])
  if n == 1 then wake() end
  return n
end
local start, batch, name, needle = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
local ids = rcall('ZRANGE', K_DEAD, start, start + batch - 1)
local n = 0
for i = 1, #ids do
  local f = rcall('HMGET', jkey(ids[i]), 'name', 'error')
  local ok = (name == '' or f[1] == name)
  if ok and needle ~= '' then ok = string.find(f[2] or '', needle, 1, true) ~= nil end
  if ok then n = n + redrive(ids[i]) end
end
if n > 0 then wake() end
return {n, #ids}
