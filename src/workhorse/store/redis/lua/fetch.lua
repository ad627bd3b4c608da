-- Apply a worker's outcomes, promote due delayed jobs, then take ready jobs.
-- ARGV[3] token, ARGV[4] lock expiry (ms), ARGV[5] how many to take, ARGV[6] n outcomes,
-- then 5 values per outcome: id, kind (c|r|f), value (result JSON or error), stack, delay_ms.
-- Returns {{ {id, {fields}}, ... }, {refused ids}}.
local token = ARGV[3]
local lock_until = tonumber(ARGV[4])
local take_n = tonumber(ARGV[5])
local FIELDS = {'name', 'data', 'opts', 'ts', 'prio', 'made', 'stalls', 'progress', 'owner',
  'tags', 'meta'}

local completed, failed = {}, {}

local function finish(id, kind, value, stack, delay)
  local jk = jkey(id)
  local f = rcall('HMGET', jk, 'token', 'made', 'kc', 'kf')
  if f[1] ~= token or rcall('ZREM', K_ACTIVE, id) == 0 then
    return false
  end
  local made = (tonumber(f[2]) or 0) + 1
  if kind == 'c' then
    rcall('HSET', jk, 'state', 'completed', 'result', value, 'finished', NOW, 'made', made)
    emit('completed', id, 'result', value)
    completed[#completed + 1] = {id, f[3]}
    return true
  end
  rcall('HSET', jk, 'made', made)
  if kind == 'f' then
    mark_failed(id, jk, value, stack, made)
    failed[#failed + 1] = {id, f[4]}
  else
    record_attempt(id, made, value, stack)
    rcall('HSET', jk, 'error', value, 'stack', stack)
    if delay > 0 then
      rcall('ZADD', K_DELAYED, NOW + delay, id)
      rcall('HSET', jk, 'state', 'delayed', 'due', NOW + delay)
      wake_at(NOW + delay)
    else
      make_ready(id, jk, job_prio(jk))
      wake()
    end
    emit('retrying', id, 'error', value, 'attempt', made, 'delay', delay)
  end
  return true
end

local function promote_due()
  local due = rcall('ZRANGEBYSCORE', K_DELAYED, '-inf', NOW, 'LIMIT', 0, 1000)
  if #due == 0 then return end
  for i = 1, #due do
    local id = due[i]
    local jk = jkey(id)
    rcall('ZREM', K_DELAYED, id)
    rcall('HDEL', jk, 'due')
    make_ready(id, jk, job_prio(jk))
    emit('waiting', id)
  end
  wake()
  local nxt = rcall('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
  if nxt[2] then wake_at(nxt[2]) end
end

local function take(n)
  if n <= 0 then return {} end
  local m = rcall('HMGET', K_META, 'paused', 'fifo_first')
  if m[1] == '1' then return {} end
  local ids = {}
  local function pop_prio(k)
    if k <= 0 then return end
    local r = rcall('ZPOPMIN', K_PRIO, k)
    for j = 1, #r, 2 do ids[#ids + 1] = r[j] end
  end
  local function pop_wait(k)
    if k <= 0 then return end
    local r = rcall('RPOP', K_WAIT, k)
    if r then for j = 1, #r do ids[#ids + 1] = r[j] end end
  end
  if m[2] == '1' then
    pop_wait(n); pop_prio(n - #ids)
  else
    pop_prio(n); pop_wait(n - #ids)
  end
  local out = {}
  local locks = {}
  for j = 1, #ids do
    locks[#locks + 1] = lock_until
    locks[#locks + 1] = ids[j]
  end
  if #ids > 0 then rcall('ZADD', K_ACTIVE, unpack(locks)) end
  for j = 1, #ids do
    local id = ids[j]
    local jk = jkey(id)
    rcall('HSET', jk, 'state', 'active', 'token', token, 'started', NOW)
    emit('active', id)
    out[j] = {id, rcall('HMGET', jk, unpack(FIELDS))}
  end
  if #ids == n and (rcall('LLEN', K_WAIT) > 0 or rcall('ZCARD', K_PRIO) > 0) then wake() end
  return out
end

local refused = {}
local i = 7
for _ = 1, tonumber(ARGV[6]) do
  if not finish(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])) then
    refused[#refused + 1] = ARGV[i]
  end
  i = i + 5
end
retain_all(K_COMPLETED, completed)
retain_all(K_FAILED, failed)
promote_due()
return {take(take_n), refused}
