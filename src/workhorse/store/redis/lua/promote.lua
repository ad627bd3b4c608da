-- Make a delayed job ready now.  ARGV[3] id.  Returns 1, or 0 when it is not delayed.
local id = ARGV[3]
if rcall('ZREM', K_DELAYED, id) == 0 then return 0 end
local jk = jkey(id)
rcall('HDEL', jk, 'due')
make_ready(id, jk, job_prio(jk))
emit('waiting', id, 'promoted', '1')
wake()
return 1
