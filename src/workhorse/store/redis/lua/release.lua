-- Give back jobs a worker holds without counting an attempt (graceful shutdown).
-- ARGV[3] token, ARGV[4..] ids.  Returns how many were released.
local token = ARGV[3]
local n = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local jk = jkey(id)
  if rcall('HGET', jk, 'token') == token and rcall('ZREM', K_ACTIVE, id) == 1 then
    group_left(jk, rcall('HGET', jk, 'gc'))
    rcall('HDEL', jk, 'token')
    make_ready(id, jk, job_prio(jk))
    emit('waiting', id, 'released', '1')
    n = n + 1
  end
end
if n > 0 then wake() end
return n
