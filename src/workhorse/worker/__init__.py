"""Workers: take jobs from a queue and run them (in-process or in a process pool)."""

from workhorse.worker.child import PooledJob
from workhorse.worker.pool import RemoteError
from workhorse.worker.worker import Handler, Worker, WorkerOptions

__all__ = ["Handler", "PooledJob", "RemoteError", "Worker", "WorkerOptions"]
