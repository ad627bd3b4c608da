-- Apply a worker's outcomes, promote due delayed jobs, then take ready jobs.
-- ARGV[3] token, ARGV[4] lock expiry (ms), ARGV[5] how many to take, ARGV[6] n outcomes,
-- then 5 values per outcome: id, kind (c|r|f), value (result JSON or error), stack, delay_ms.
-- Returns {{ {id, {fields}}, ... }, {refused ids}, notices waiting in the outbox}.
-- Events carry the numbers metrics need: ``active`` the job's wait (``wait_ms``, since
-- it became ready), ``completed`` / ``retrying`` / ``failed`` how long the attempt ran
-- (``duration_ms``, since the take); a take held back by a full rate window emits
-- ``ratelimited`` (``scope`` queue or group).
local token = ARGV[3]
local lock_until = tonumber(ARGV[4])
local take_n = tonumber(ARGV[5])
local FIELDS = {'name', 'data', 'opts', 'ts', 'prio', 'made', 'stalls', 'progress', 'owner',
  'tags', 'meta', 'grp', 'rdy'}

local completed, failed = {}, {}
local left_active = false

local function finish(id, kind, value, stack, delay)
  local jk = jkey(id)
  local f = rcall('HMGET', jk, 'token', 'made', 'kc', 'kf', 'gc', 'pq', 'started')
  if f[1] ~= token or rcall('ZREM', K_ACTIVE, id) == 0 then
    return false
  end
  left_active = true
  group_left(jk, f[5])
  local made = (tonumber(f[2]) or 0) + 1
  local ran = NOW - (tonumber(f[7]) or NOW)
  if kind == 'c' then
    rcall('HSET', jk, 'state', 'completed', 'result', value, 'finished', NOW, 'made', made)
    emit('completed', id, 'result', value, 'duration_ms', ran)
    if f[6] then notify_parent(id, jk, 'c', value) end
    completed[#completed + 1] = {id, f[3]}
    return true
  end
  rcall('HSET', jk, 'made', made)
  if kind == 'f' then
    mark_failed(id, jk, value, stack, made, ran)
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
    emit('retrying', id, 'error', value, 'attempt', made, 'delay', delay, 'duration_ms', ran)
  end
  return true
end

local function promote_due()
  local due = rcall('ZRANGEBYSCORE', K_DELAYED, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, 1000)
  if #due == 0 then return end
  for i = 1, #due, 2 do
    local id = due[i]
    local jk = jkey(id)
    rcall('ZREM', K_DELAYED, id)
    rcall('HDEL', jk, 'due')
    make_ready(id, jk, job_prio(jk), tonumber(due[i + 1]))
    emit('waiting', id)
  end
  wake()
  local nxt = rcall('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
  if nxt[2] then wake_at(nxt[2]) end
end

-- Queue settings: paused, fifo_first, then the limits (LIMIT_FIELDS in store/base.py).
local META = rcall('HMGET', K_META, 'paused', 'fifo_first', 'concurrency', 'rate_max',
  'rate_per', 'group_max', 'group_per', 'group_concurrency')
local CONC, RMAX, RPER = tonumber(META[3]), tonumber(META[4]), tonumber(META[5]) or 1000
local GMAX, GPER, GCONC = tonumber(META[6]), tonumber(META[7]) or 1000, tonumber(META[8])
-- With group limits the take looks this far down the ready jobs for ones it may start.
local GROUP_SCAN = 1000

local function has_ready() return rcall('LLEN', K_WAIT) > 0 or rcall('ZCARD', K_PRIO) > 0 end

-- When the oldest start in a rate window (zset of start times) leaves it.
local function frees_at(key, per)
  local oldest = rcall('ZRANGE', key, 0, 0, 'WITHSCORES')
  return oldest[2] and (tonumber(oldest[2]) + per) or NOW
end

-- How many of n jobs the queue-wide limits let this take start now.
local function queue_room(n)
  if CONC then n = math.min(n, CONC - rcall('ZCARD', K_ACTIVE)) end
  if RMAX then
    rcall('ZREMRANGEBYSCORE', K_RATE, '-inf', NOW - RPER)
    n = math.min(n, RMAX - rcall('ZCARD', K_RATE))
  end
  return n
end

-- Per group seen in this take: starts left in its rate window; the groups whose full
-- rate window held back one of their jobs, and how many such groups.
local rate_left, held = {}, {}
local groups_held = 0

-- How many more jobs of group g may start now (memoised in room for this take).  A
-- group held back by its rate window asks blocked workers to look again when it frees.
local function group_room(g, room)
  local left = room[g]
  if left ~= nil then return left end
  left = 1e9
  if GCONC then left = GCONC - (tonumber(rcall('HGET', K_GACTIVE, g)) or 0) end
  if GMAX then
    local gk = BASE .. 'gr:' .. g
    rcall('ZREMRANGEBYSCORE', gk, '-inf', NOW - GPER)
    local used = rcall('ZCARD', gk)
    if used >= GMAX then wake_at(frees_at(gk, GPER)) end
    rate_left[g] = GMAX - used
    left = math.min(left, GMAX - used)
  end
  room[g] = left
  return left
end

-- Take up to n ready jobs in take order, skipping those of groups at their limits
-- (they stay where they are).  Returns the ids and each taken job's group.
local function pick_grouped(n, fifo_first)
  local ids, groups, room = {}, {}, {}
  local function scan(cands, from_wait)
    for j = 1, #cands do
      if #ids >= n then return end
      local id = cands[j]
      local g = rcall('HGET', jkey(id), 'grp')
      local ok = true
      if g then
        local left = group_room(g, room)
        ok = left > 0
        if ok then
          room[g] = left - 1
          if rate_left[g] then rate_left[g] = rate_left[g] - 1 end
        elseif rate_left[g] and rate_left[g] <= 0 and not held[g] then
          held[g] = true
          groups_held = groups_held + 1
        end
      end
      if ok then
        ids[#ids + 1] = id
        groups[id] = g
        if from_wait then rcall('LREM', K_WAIT, -1, id) else rcall('ZREM', K_PRIO, id) end
      end
    end
  end
  local function from_prio() scan(rcall('ZRANGE', K_PRIO, 0, GROUP_SCAN - 1), false) end
  local function from_wait()
    local r = rcall('LRANGE', K_WAIT, -GROUP_SCAN, -1)
    local next_first = {}
    for j = #r, 1, -1 do next_first[#next_first + 1] = r[j] end
    scan(next_first, true)
  end
  if fifo_first then from_wait(); from_prio() else from_prio(); from_wait() end
  return ids, groups
end

local function pop_ready(n, fifo_first)
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
  if fifo_first then
    pop_wait(n); pop_prio(n - #ids)
  else
    pop_prio(n); pop_wait(n - #ids)
  end
  return ids
end

-- Count the starts of taken jobs against the rate windows and group concurrency.
local function count_starts(ids, groups)
  if RMAX and #ids > 0 then
    for j = 1, #ids do rcall('ZADD', K_RATE, NOW, NOW .. ':' .. ids[j]) end
    rcall('PEXPIRE', K_RATE, RPER)
  end
  if not groups then return end
  for j = 1, #ids do
    local g = groups[ids[j]]
    if g then
      if GCONC then
        rcall('HINCRBY', K_GACTIVE, g, 1)
        rcall('HSET', jkey(ids[j]), 'gc', g)
      end
      if GMAX then
        local gk = BASE .. 'gr:' .. g
        rcall('ZADD', gk, NOW, NOW .. ':' .. ids[j])
        rcall('PEXPIRE', gk, GPER)
      end
    end
  end
end

local function take(n)
  if n <= 0 or META[1] == '1' then return {} end
  n = queue_room(n)
  if n <= 0 then return {} end
  local ids, groups
  if GMAX or GCONC then
    ids, groups = pick_grouped(n, META[2] == '1')
  else
    ids = pop_ready(n, META[2] == '1')
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
    local values = rcall('HMGET', jk, unpack(FIELDS))
    local ready_at = tonumber(table.remove(values)) or tonumber(values[4]) or NOW
    emit('active', id, 'wait_ms', math.max(NOW - ready_at, 0))
    out[j] = {id, values}
  end
  count_starts(ids, groups)
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
local taken = take(take_n)
if META[1] ~= '1' then
  -- Another worker may take what is left: this take got all it asked for, or (with
  -- concurrency limits) it only finished jobs, which frees slots.
  local freed = take_n == 0 and left_active and (CONC or GCONC)
  if ((take_n > 0 and #taken == take_n) or freed) and has_ready() then wake() end
  -- A full rate window: blocked workers look again when it frees.
  if RMAX and take_n > 0 and rcall('ZCARD', K_RATE) >= RMAX and has_ready() then
    wake_at(frees_at(K_RATE, RPER))
    if #taken < take_n then emit('ratelimited', '', 'scope', 'queue') end
  end
  if groups_held > 0 and #taken < take_n then
    emit('ratelimited', '', 'scope', 'group', 'groups', groups_held)
  end
end
return {taken, refused, rcall('LLEN', K_OUTBOX)}
