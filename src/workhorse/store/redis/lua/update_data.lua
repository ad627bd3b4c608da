-- Replace the data of a failed (or dead-lettered) job.  ARGV[3] id, ARGV[4] data JSON.
-- Returns 1, 0 when absent, -1 when the job is not failed.
local id = ARGV[3]
local jk = jkey(id)
local state = rcall('HGET', jk, 'state')
if not state then return 0 end
if state ~= 'failed' then return -1 end
rcall('HSET', jk, 'data', ARGV[4])
emit('updated', id)
return 1
