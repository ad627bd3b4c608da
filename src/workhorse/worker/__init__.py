"""Workers: take jobs from a queue and run them."""

from workhorse.worker.worker import Handler, Worker, WorkerOptions

__all__ = ["Handler", "Worker", "WorkerOptions"]
