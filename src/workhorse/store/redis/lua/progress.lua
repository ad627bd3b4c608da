-- Store and publish a job's progress.  ARGV[3] id, ARGV[4] progress JSON.
local jk = jkey(ARGV[3])
if rcall('EXISTS', jk) == 0 then return 0 end
rcall('HSET', jk, 'progress', ARGV[4])
emit('progress', ARGV[3], 'data', ARGV[4])
return 1
