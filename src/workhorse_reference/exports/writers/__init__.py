"""One writer per file format.  A writer is synchronous and is driven from a worker
thread: :meth:`TableWriter.begin` a table, :meth:`TableWriter.write` its rows batch
by batch, :meth:`TableWriter.end` it, then :meth:`TableWriter.close` the file (or
:meth:`TableWriter.abort` on failure).  Every format but Excel holds one table per
file."""
