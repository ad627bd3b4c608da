-- Act on a flow child at its parent's request (a notice from tell_child): ARGV[3]
-- the child's id, ARGV[4] the kind ('x' remove, 'k' cancel, 'r' re-run), ARGV[5] /
-- ARGV[6] its parent's queue and id, ARGV[7] the failure the parent recorded ('r').
-- Idempotent: a repeated notice finds the work done.  Returns the number of notices
-- now in this queue's outbox.
local id, kind = ARGV[3], ARGV[4]
local jk = jkey(id)
if kind == 'x' then
  if remove_job(id) < 0 then cancel_job(id) end
elseif kind == 'k' then
  cancel_job(id)
else
  local state = rcall('HGET', jk, 'state')
  if not state then
    -- Gone: the parent gets back the failure it had recorded, and no longer waits.
    rcall('RPUSH', K_OUTBOX, cjson.encode({id, ARGV[5], ARGV[6], '0', 'f', ARGV[7]}))
  elseif state == 'completed' then
    notify_parent(id, jk, 'c', rcall('HGET', jk, 'result'))
  elseif state == 'failed' then
    rcall('ZREM', K_FAILED, id)
    if rerun(id, jk) then wake() end
    emit('waiting', id, 'retried', '1')
  end
end
return rcall('LLEN', K_OUTBOX)
