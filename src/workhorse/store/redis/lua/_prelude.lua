-- Prepended to every script.  KEYS come from QueueKeys.script_keys (see keys.py for
-- the schema); ARGV[1] is the caller's clock in ms, ARGV[2] the events stream MAXLEN.
local K_META, K_ID, K_WAIT, K_PRIO = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_DELAYED, K_ACTIVE, K_COMPLETED, K_FAILED = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_EVENTS, K_MARKER, BASE = KEYS[9], KEYS[10], KEYS[11]
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
local function make_ready(id, jk, prio)
  if prio > 0 then
    local seq = rcall('HINCRBY', K_META, 'pseq', 1)
    rcall('ZADD', K_PRIO, prio * 4294967296 + seq % 4294967296, id)
    rcall('HSET', jk, 'state', 'prioritized')
  else
    rcall('LPUSH', K_WAIT, id)
    rcall('HSET', jk, 'state', 'waiting')
  end
end

local function job_prio(jk) return tonumber(rcall('HGET', jk, 'prio')) or 0 end

local function delete_job(id)
  rcall('DEL', jkey(id), lkey(id), hkey(id))
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
      delete_job(finished[i][1])
    else
      members[#members + 1] = NOW
      members[#members + 1] = finished[i][1]
      count, age = c, a
    end
  end
  if #members == 0 then return end
  rcall('ZADD', set, unpack(members))
  if age >= 0 then
    local old = rcall('ZRANGEBYSCORE', set, '-inf', NOW - age, 'LIMIT', 0, 100)
    for i = 1, #old do
      rcall('ZREM', set, old[i])
      delete_job(old[i])
    end
  end
  if count > 0 then
    local extra = rcall('ZCARD', set) - count
    if extra > 0 then
      local old = rcall('ZPOPMIN', set, math.min(extra, 1000))
      for i = 1, #old, 2 do delete_job(old[i]) end
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

-- Mark a job failed for good; the caller records it with retain()/retain_all().
local function mark_failed(id, jk, reason, stack, attempt)
  rcall('HSET', jk, 'state', 'failed', 'error', reason, 'stack', stack, 'finished', NOW)
  record_attempt(id, attempt, reason, stack)
  emit('failed', id, 'error', reason, 'attempt', attempt)
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
  elseif state == 'failed' then rcall('ZREM', K_FAILED, id)
  elseif state == 'active' then rcall('ZREM', K_ACTIVE, id)
  end
end
