-- Add one job of a flow (one per call: the flow's jobs may live in other slots).
-- ARGV[3..14] the 12 values of store_job, with the id given; ARGV[15] parent queue
-- ('' none), ARGV[16] parent id, ARGV[17] '1' when its failure fails the parent,
-- ARGV[18..] refs of its children: then it waits for them (waiting-children).
-- Returns 1 when added, 0 when the id existed (a repeated add_flow changes nothing).
local has_children = #ARGV >= 18
local id, created, state = store_job(3, has_children)
if created == 0 then return 0 end
local jk = jkey(id)
if ARGV[15] ~= '' then rcall('HSET', jk, 'pq', ARGV[15], 'pid', ARGV[16], 'fpf', ARGV[17]) end
if has_children then
  local refs = {}
  for i = 18, #ARGV do refs[#refs + 1] = ARGV[i] end
  rcall('SADD', BASE .. 'pend:' .. id, unpack(refs))
elseif state == 'waiting' or state == 'prioritized' then
  wake()
end
return 1
