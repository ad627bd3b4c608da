-- Renew the locks a worker holds.  ARGV[3] token, ARGV[4] new expiry (ms), ARGV[5..] ids.
-- Returns {id, reason, ...} for jobs whose lock is lost or whose cancellation was asked.
local token = ARGV[3]
local lock_until = tonumber(ARGV[4])
local out = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local f = rcall('HMGET', jkey(id), 'token', 'state', 'cancel')
  if f[1] ~= token or f[2] ~= 'active' then
    out[#out + 1] = id
    out[#out + 1] = 'lost'
  else
    rcall('ZADD', K_ACTIVE, 'XX', lock_until, id)
    if f[3] == '1' then
      out[#out + 1] = id
      out[#out + 1] = 'cancel'
    end
  end
end
return out
