-- Append a log line.  ARGV[3] id, ARGV[4] line, ARGV[5] lines to keep.
-- Returns the number of lines, or -1 when the job does not exist.
local id = ARGV[3]
if rcall('EXISTS', jkey(id)) == 0 then return -1 end
local n = rcall('RPUSH', lkey(id), ARGV[4])
local keep = tonumber(ARGV[5])
if n > keep then
  rcall('LTRIM', lkey(id), -keep, -1)
  n = keep
end
emit('log', id, 'line', ARGV[4])
return n
