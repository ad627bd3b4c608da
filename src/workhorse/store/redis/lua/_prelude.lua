-- Prepended to every script.  KEYS come from QueueKeys.script_keys (see keys.py for
-- the schema); ARGV[1] is the caller's clock in ms, ARGV[2] the events stream MAXLEN.
local K_META, K_ID, K_WAIT, K_PRIO = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_DELAYED, K_ACTIVE, K_COMPLETED, K_FAILED = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_EVENTS, K_MARKER, BASE = KEYS[9], KEYS[10], KEYS[11]
local K_DEAD, K_RATE, K_GACTIVE = KEYS[12], KEYS[13], KEYS[14]
local K_WCHILD, K_OUTBOX = KEYS[15], KEYS[16]
local NOW = tonumber(ARGV[1])
local MAXLEN = ARGV[2]
local rcall = redis.call

local function jkey(id) return BASE .. 'j:' .. id end
local function lkey(id) return BASE .. 'l:' .. id end
local function hkey(id) return BASE .. 'h:' .. id end

local function emit(ev, id, ...)
  return rcall('XADD', K_EVENTS, 'MAXLEN', '~', MAXLEN, '*', 'ev', ev, 'id', id, ...)
end

-- Wake one blocked worker: jobs are ready now.
local function wake() rcall('ZADD', K_MARKER, 0, '0') end
-- Tell blocked workers when the next delayed job falls due (only ever moved earlier).
local function wake_at(ts) rcall('ZADD', K_MARKER, 'LT', ts, 'd') end

-- Put a job among the ready ones: prioritized (FIFO within a priority) or waiting.
-- ``ready_at`` (default now) is when it became ready: its wait starts there.
local function make_ready(id, jk, prio, ready_at)
  ready_at = ready_at or NOW
  if prio > 0 then
    local seq = rcall('HINCRBY', K_META, 'pseq', 1)
    rcall('ZADD', K_PRIO, prio * 4294967296 + seq % 4294967296, id)
    rcall('HSET', jk, 'state', 'prioritized', 'rdy', ready_at)
  else
    rcall('LPUSH', K_WAIT, id)
    rcall('HSET', jk, 'state', 'waiting', 'rdy', ready_at)
  end
end

local function job_prio(jk) return tonumber(rcall('HGET', jk, 'prio')) or 0 end

-- A job leaves `active`: if its start counted towards its group's concurrency
-- (field 'gc' = the group), it no longer does.
local function group_left(jk, group)
  if not group then return end
  rcall('HDEL', jk, 'gc')
  if rcall('HINCRBY', K_GACTIVE, group, -1) <= 0 then rcall('HDEL', K_GACTIVE, group) end
end

local function delete_job(id)
  rcall('DEL', jkey(id), lkey(id), hkey(id), BASE .. 'pend:' .. id, BASE .. 'cv:' .. id,
    BASE .. 'cf:' .. id)
end

-- A job of a flow finished (kind 'c' with its result, or 'f' with its reason): leave
-- a notice for its parent in this queue's outbox, in the same atomic step.  The
-- store delivers it to the parent's queue (child_done.lua), then deletes it.
local function notify_parent(id, jk, kind, value)
  local p = rcall('HMGET', jk, 'pq', 'pid', 'fpf')
  if not p[1] then return end
  rcall('RPUSH', K_OUTBOX, cjson.encode({id, p[1], p[2], p[3] or '1', kind, value}))
end

-- Delete a job that never finished (removed, cleaned, drained): a flow parent learns
-- that this child failed, with reason 'removed', rather than wait for it forever.
local function delete_unfinished(id)
  notify_parent(id, jkey(id), 'f', 'removed')
  delete_job(id)
end

-- Store a new job from ARGV[i..i+11]: id ('' = generate), name, data, opts, prio,
-- delay_ms, owner, tags, meta, keep_completed, keep_failed, group.  ``hold``: it waits
-- for its children.  Returns id, created (0: the id existed), state.
local function store_job(i, hold)
  local id = ARGV[i]
  if id == '' then
    id = tostring(rcall('INCR', K_ID))
  elseif rcall('EXISTS', jkey(id)) == 1 then
    return id, 0, nil
  end
  local jk = jkey(id)
  local prio = tonumber(ARGV[i + 4])
  local delay = tonumber(ARGV[i + 5])
  rcall('HSET', jk, 'name', ARGV[i + 1], 'data', ARGV[i + 2], 'opts', ARGV[i + 3], 'ts', NOW,
    'prio', prio, 'made', 0, 'kc', ARGV[i + 9], 'kf', ARGV[i + 10])
  if ARGV[i + 6] ~= '' then rcall('HSET', jk, 'owner', ARGV[i + 6]) end
  if ARGV[i + 7] ~= '' then rcall('HSET', jk, 'tags', ARGV[i + 7]) end
  if ARGV[i + 8] ~= '' then rcall('HSET', jk, 'meta', ARGV[i + 8]) end
  if ARGV[i + 11] ~= '' then rcall('HSET', jk, 'grp', ARGV[i + 11]) end
  local state
  if hold then
    rcall('ZADD', K_WCHILD, NOW, id)
    rcall('HSET', jk, 'state', 'waiting-children')
    -- A flow parent's delay runs from the moment its children are done.
    if delay > 0 then rcall('HSET', jk, 'hdelay', delay) end
    state = 'waiting-children'
  elseif delay > 0 then
    rcall('ZADD', K_DELAYED, NOW + delay, id)
    rcall('HSET', jk, 'state', 'delayed', 'due', NOW + delay)
    wake_at(NOW + delay)
    state = 'delayed'
  else
    make_ready(id, jk, prio)
    state = (prio > 0) and 'prioritized' or 'waiting'
  end
  emit('added', id, 'name', ARGV[i + 1], 'state', state)
  return id, 1, state
end

-- The dead-letter set keeps at most this many jobs; the oldest leave it (they stay
-- failed jobs, under their own remove_on_fail) -- DEAD_LETTERS_KEPT in keys.py.
local DEAD_MAX = 10000

-- Delete a failed job; a dead letter leaves its set with a 'removed' event, so
-- retention never makes one vanish unseen.
local function delete_failed(id, why)
  if rcall('ZREM', K_DEAD, id) == 1 then emit('removed', id, 'state', 'failed', 'reason', why) end
  delete_job(id)
end

local function parse_keep(spec)
  local count, age = string.match(spec or '', '^(-?%d+):(-?%d+)$')
  return tonumber(count) or -1, tonumber(age) or -1
end

-- Record finished jobs in `set` (a list of {id, spec}; spec is the job's retention
-- "count:age_ms", -1 = no limit, count 0 = remove the job now), then trim the set
-- once by the policy of the last job recorded.
local function retain_all(set, finished)
  local members = {}
  local count, age = -1, -1
  for i = 1, #finished do
    local c, a = parse_keep(finished[i][2])
    if c == 0 then
      if set == K_FAILED then delete_failed(finished[i][1], 'retention')
      else delete_job(finished[i][1]) end
    else
      members[#members + 1] = NOW
      members[#members + 1] = finished[i][1]
      count, age = c, a
    end
  end
  if #members == 0 then return end
  rcall('ZADD', set, unpack(members))
  local drop = delete_job
  if set == K_FAILED then drop = function(id) delete_failed(id, 'retention') end end
  if age >= 0 then
    local old = rcall('ZRANGEBYSCORE', set, '-inf', NOW - age, 'LIMIT', 0, 100)
    for i = 1, #old do
      rcall('ZREM', set, old[i])
      drop(old[i])
    end
  end
  if count > 0 then
    local extra = rcall('ZCARD', set) - count
    if extra > 0 then
      local old = rcall('ZPOPMIN', set, math.min(extra, 1000))
      for i = 1, #old, 2 do drop(old[i]) end
    end
  end
end

-- A failed attempt goes to the job's history (newest first, last 20 kept).
local function record_attempt(id, attempt, err, stack)
  local hk = hkey(id)
  rcall('LPUSH', hk, cjson.encode({attempt = attempt, error = err, stack = stack, at = NOW}))
  rcall('LTRIM', hk, 0, 19)
end

local function retain(set, id, spec) retain_all(set, {{id, spec}}) end

-- A job that failed for good (not a cancelled one) joins the dead-letter set.
local function dead_letter(id, jk, reason)
  rcall('ZADD', K_DEAD, NOW, id)
  rcall('HSET', jk, 'dead', NOW)
  emit('deadlettered', id, 'error', reason, 'name', rcall('HGET', jk, 'name'))
  if rcall('ZCARD', K_DEAD) > DEAD_MAX then
    local out = rcall('ZPOPMIN', K_DEAD, 1)
    rcall('HDEL', jkey(out[1]), 'dead')
  end
end

-- Mark a job failed for good; the caller records it with retain()/retain_all().
-- ``ran_ms``: how long the attempt ran in a worker (nil: it did not run there).
local function mark_failed(id, jk, reason, stack, attempt, ran_ms)
  rcall('HSET', jk, 'state', 'failed', 'error', reason, 'stack', stack, 'finished', NOW)
  record_attempt(id, attempt, reason, stack)
  if ran_ms then
    emit('failed', id, 'error', reason, 'attempt', attempt, 'duration_ms', ran_ms)
  else
    emit('failed', id, 'error', reason, 'attempt', attempt)
  end
  if rcall('HGET', jk, 'cancel') ~= '1' then dead_letter(id, jk, reason) end
  notify_parent(id, jk, 'f', reason)
end

local function fail_now(id, jk, reason, stack, attempt)
  mark_failed(id, jk, reason, stack, attempt)
  retain(K_FAILED, id, rcall('HGET', jk, 'kf'))
end

-- Remove a job id from whichever pending/finished structure holds it.
local function unlink_from(state, id)
  if state == 'waiting' then rcall('LREM', K_WAIT, 0, id)
  elseif state == 'prioritized' then rcall('ZREM', K_PRIO, id)
  elseif state == 'delayed' then rcall('ZREM', K_DELAYED, id)
  elseif state == 'completed' then rcall('ZREM', K_COMPLETED, id)
  elseif state == 'failed' then
    rcall('ZREM', K_FAILED, id)
    rcall('ZREM', K_DEAD, id)
  elseif state == 'active' then rcall('ZREM', K_ACTIVE, id)
  elseif state == 'waiting-children' then rcall('ZREM', K_WCHILD, id)
  end
end

-- ---- flows: what an admin step on a parent asks of its children ----------------
-- A notice in this queue's outbox for child ``ref`` of job ``id``: kind 'x' remove
-- it, 'k' cancel it, 'r' re-run it (``value``: the failure its parent recorded).
-- The store runs flow_child.lua on the child's queue, then deletes the notice.
-- Queue names have no colon, so a ref "queue:id" splits at its first one.
local function tell_child(id, ref, kind, value)
  local at = string.find(ref, ':', 1, true)
  rcall('RPUSH', K_OUTBOX, cjson.encode({id, string.sub(ref, 1, at - 1),
    string.sub(ref, at + 1), '0', kind, value or ''}))
end

-- Tell the children job ``id`` still waits for (before its keys go).
local function tell_awaited(id, kind)
  local refs = rcall('SMEMBERS', BASE .. 'pend:' .. id)
  for i = 1, #refs do tell_child(id, refs[i], kind) end
end

-- Cancel a job: a pending one (or a parent waiting for children, which cancels
-- them too) fails now with reason 'cancelled'; an active one is flagged and its
-- worker stops it.  Returns the state it was in, or false.
local function cancel_job(id)
  local jk = jkey(id)
  local state = rcall('HGET', jk, 'state')
  if not state then return false end
  if state == 'active' then
    rcall('HSET', jk, 'cancel', '1')
    emit('cancelling', id)
  elseif state == 'waiting' or state == 'prioritized' or state == 'delayed'
      or state == 'waiting-children' then
    if state == 'waiting-children' then tell_awaited(id, 'k') end
    unlink_from(state, id)
    rcall('HSET', jk, 'cancel', '1')
    fail_now(id, jk, 'cancelled', '', (tonumber(rcall('HGET', jk, 'made')) or 0))
  end
  return state
end

-- Delete a job that is not active, with the children it still waits for.  Returns
-- 1, 0 when absent, -1 when active.
local function remove_job(id)
  local state = rcall('HGET', jkey(id), 'state')
  if not state then return 0 end
  if state == 'active' then return -1 end
  tell_awaited(id, 'x')
  unlink_from(state, id)
  if state == 'completed' or state == 'failed' then delete_job(id) else delete_unfinished(id) end
  emit('removed', id, 'state', state)
  return 1
end

-- Send a finished job (already out of its finished set) back with fresh attempts:
-- ready, or -- a flow parent with children recorded as failed -- waiting for those
-- children, each told to re-run.  Returns true when it became ready.
local function rerun(id, jk)
  rcall('HSET', jk, 'made', 0, 'stalls', 0)
  rcall('ZREM', K_DEAD, id)
  rcall('HDEL', jk, 'error', 'stack', 'finished', 'result', 'started', 'cancel', 'token', 'dead')
  local failed = rcall('HGETALL', BASE .. 'cf:' .. id)
  if #failed == 0 then
    make_ready(id, jk, job_prio(jk))
    return true
  end
  rcall('DEL', BASE .. 'cf:' .. id)
  for i = 1, #failed, 2 do
    rcall('SADD', BASE .. 'pend:' .. id, failed[i])
    tell_child(id, failed[i], 'r', failed[i + 1])
  end
  rcall('ZADD', K_WCHILD, NOW, id)
  rcall('HSET', jk, 'state', 'waiting-children')
  return false
end
