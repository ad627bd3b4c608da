"""Handlers for process-pool tests: top-level functions, so pool processes can import
them.  ``pooled`` dispatches on the job's name; ``sync_pooled`` is a plain function."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from workhorse import Job, UnrecoverableError
from workhorse.errors import HttpError
from workhorse.worker.child import PooledJob


class QuotaExceeded(Exception):
    """A domain error a retry rule can match by class across the process boundary."""


async def pooled(job: Job) -> Any:
    data = job.data or {}
    match job.name:
        case "report":
            await job.update_progress(50)
            await job.update_progress({"currentStep": "write", "overallProgress": 90})
            await job.log(f"working in {os.getpid()}")
            return {"pid": os.getpid(), "n": data.get("n")}
        case "pid":
            return os.getpid()
        case "spin":  # CPU-bound and never yields: only killing the process stops it
            await job.log(f"spinning in {os.getpid()}")
            while True:
                pass
        case "sleep":  # cooperative: a cancel message stops it at once
            await job.log(f"sleeping in {os.getpid()}")
            await asyncio.sleep(float(data.get("seconds", 60)))
            return "woke"
        case "fail":
            raise ValueError(f"bad input {data.get('n')}")
        case "http":
            raise HttpError(int(data["status"]), "upstream said no", data.get("retry_after"))
        case "quota":
            raise QuotaExceeded("quota exceeded")
        case "unrecoverable":
            raise UnrecoverableError("give up")
        case "die":
            os._exit(3)
        case "object":
            return object()
    raise LookupError(f"unknown job name {job.name!r}")


def sync_pooled(job: Job) -> Any:
    assert isinstance(job, PooledJob)
    job.send_progress(40)
    job.send_log(f"sync in {os.getpid()}")
    if job.name == "spin":
        while True:
            pass
    return {"pid": os.getpid(), "sum": sum(range(int(job.data["n"])))}
