-- Cancel a job (see cancel_job in the prelude).  ARGV[3] id.  Returns the state it
-- was in, or false.
return cancel_job(ARGV[3])
