-- Add jobs atomically.  ARGV[3] = n, then 11 values per job:
-- id ('' = generate), name, data, opts, prio, delay_ms, owner, tags, meta, keep_completed, keep_failed
-- Returns {id1, created1, id2, created2, ...}; created = 0 when the id already existed.
local out = {}
local ready = false
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  local id = ARGV[i]
  local created = 1
  if id == '' then
    id = tostring(rcall('INCR', K_ID))
  elseif rcall('EXISTS', jkey(id)) == 1 then
    created = 0
  end
  if created == 1 then
    local jk = jkey(id)
    local prio = tonumber(ARGV[i + 4])
    local delay = tonumber(ARGV[i + 5])
    rcall('HSET', jk, 'name', ARGV[i + 1], 'data', ARGV[i + 2], 'opts', ARGV[i + 3], 'ts', NOW,
      'prio', prio, 'made', 0, 'kc', ARGV[i + 9], 'kf', ARGV[i + 10])
    if ARGV[i + 6] ~= '' then rcall('HSET', jk, 'owner', ARGV[i + 6]) end
    if ARGV[i + 7] ~= '' then rcall('HSET', jk, 'tags', ARGV[i + 7]) end
    if ARGV[i + 8] ~= '' then rcall('HSET', jk, 'meta', ARGV[i + 8]) end
    local state
    if delay > 0 then
      rcall('ZADD', K_DELAYED, NOW + delay, id)
      rcall('HSET', jk, 'state', 'delayed', 'due', NOW + delay)
      wake_at(NOW + delay)
      state = 'delayed'
    else
      make_ready(id, jk, prio)
      ready = true
      state = (prio > 0) and 'prioritized' or 'waiting'
    end
    emit('added', id, 'name', ARGV[i + 1], 'state', state)
  end
  out[#out + 1] = id
  out[#out + 1] = created
  i = i + 11
end
if ready then wake() end
return out
