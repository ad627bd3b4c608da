"""Workhorse: heavy background jobs for Python.

The public API::

    from workhorse import Queue, Worker, JobOptions, Backoff, Retention
    from workhorse.store import connect

    store = connect("sqlite:///jobs.db")   # or "redis://127.0.0.1:6379/0"
    queue = Queue("emails", store)
    job = await queue.add("send", {"to": "a@example.com"}, attempts=3)
"""

from workhorse.application import Workhorse
from workhorse.errors import (
    HttpError,
    InvalidTransition,
    JobFailed,
    JobNotFound,
    UnrecoverableError,
    WorkhorseError,
)
from workhorse.flow import FlowJob, add_flow
from workhorse.job import Job, JobState
from workhorse.options import Backoff, JobOptions, Retention
from workhorse.queue import Queue
from workhorse.retry import RetryPolicy, RetryRule
from workhorse.schedule import Schedule, Scheduler, upsert_schedule
from workhorse.store.base import Store
from workhorse.store.redis import RedisStore
from workhorse.store.sqlite import SqliteStore
from workhorse.worker import Worker, WorkerOptions

__all__ = [
    "Backoff",
    "FlowJob",
    "HttpError",
    "InvalidTransition",
    "Job",
    "JobFailed",
    "JobNotFound",
    "JobOptions",
    "JobState",
    "Queue",
    "RedisStore",
    "Retention",
    "RetryPolicy",
    "RetryRule",
    "Schedule",
    "Scheduler",
    "SqliteStore",
    "Store",
    "UnrecoverableError",
    "Worker",
    "WorkerOptions",
    "Workhorse",
    "WorkhorseError",
    "add_flow",
    "upsert_schedule",
]
