-- Delete a job that is not active.  ARGV[3] id.  Returns 1, 0 when absent, -1 when active.
local id = ARGV[3]
local state = rcall('HGET', jkey(id), 'state')
if not state then return 0 end
if state == 'active' then return -1 end
unlink_from(state, id)
if state == 'completed' or state == 'failed' then delete_job(id) else delete_unfinished(id) end
emit('removed', id, 'state', state)
return 1
