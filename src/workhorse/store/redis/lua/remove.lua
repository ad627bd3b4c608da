-- Delete a job that is not active (see remove_job in the prelude).  ARGV[3] id.
-- Returns 1, 0 when absent, -1 when active.
return remove_job(ARGV[3])
