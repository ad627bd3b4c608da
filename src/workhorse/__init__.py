"""Workhorse: heavy background jobs for Python.

The public API::

    from workhorse import Queue, Worker, RedisStore, JobOptions, Backoff, Retention

    store = RedisStore.from_url("redis://127.0.0.1:6379/0")
    queue = Queue("emails", store)
    job = await queue.add("send", {"to": "a@example.com"}, attempts=3)
"""

from workhorse.application import Workhorse
from workhorse.errors import JobFailed, JobNotFound, UnrecoverableError, WorkhorseError
from workhorse.job import Job, JobState
from workhorse.options import Backoff, JobOptions, Retention
from workhorse.queue import Queue
from workhorse.store.base import Store
from workhorse.store.redis import RedisStore
from workhorse.store.sqlite import SqliteStore
from workhorse.worker import Worker, WorkerOptions

__all__ = [
    "Backoff",
    "Job",
    "JobFailed",
    "JobNotFound",
    "JobOptions",
    "JobState",
    "Queue",
    "RedisStore",
    "Retention",
    "SqliteStore",
    "Store",
    "UnrecoverableError",
    "Worker",
    "WorkerOptions",
    "Workhorse",
    "WorkhorseError",
]
