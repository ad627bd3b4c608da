"""The processor base class (the original ``WorkerHost``).

A processor handles the jobs of one queue: it validates each job's payload again
before running it (a payload that no longer matches fails at once, without
retries), logs start / progress / completion / failure with the job id and the user
id, and offers step progress helpers::

    class ExportProcessor(Processor[ExportPayload]):
        queue = "exports"

        async def process(self, job: Job, payload: ExportPayload) -> Any:
            steps = self.steps(job, ["query rows", "write file", "store file"])
            await steps.start("query rows")
            ...
            await steps.update(50, "half the rows written")

Its bound method :meth:`Processor.handle` is the worker's handler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast

from workhorse.app.errors import PayloadInvalid
from workhorse.app.service import QueueService
from workhorse.errors import UnrecoverableError
from workhorse.job import Job
from workhorse.retry import RetryPolicy

P = TypeVar("P")
log = logging.getLogger("workhorse.processor")


def user_of(job: Job) -> str | None:
    """The job's user: its owner, else a ``userId`` in its data."""
    if job.owner:
        return job.owner
    data = job.data
    if isinstance(data, dict) and isinstance(data.get("userId"), str):
        return str(data["userId"])
    return None


def _log(level: int, what: str, job: Job, message: str = "", **fields: Any) -> None:
    """One structured line: readable text, and the fields as ``extra`` for JSON
    log formatters (``job_id``, ``user_id``, ``queue``, ``job_event``, ...)."""
    extra = {
        "job_event": what,
        "queue": job.queue_name,
        "job_id": job.id,
        "job_name": job.name,
        "user_id": user_of(job),
        **fields,
    }
    detail = " ".join(f"{k}={v}" for k, v in fields.items())
    text = f"job {what}: {job.queue_name}/{job.id} ({job.name}) user={extra['user_id']}"
    log.log(level, " ".join(p for p in (text, detail, message) if p), extra=extra)


class Steps:
    """Progress by named steps: ``{currentStep, totalSteps, stepProgress,
    overallProgress, message}``, overall = (steps done + step share) / total."""

    def __init__(self, job: Job, names: Sequence[str]) -> None:
        if not names:
            raise ValueError("steps: give at least one step name")
        self.job = job
        self.names = list(names)
        self.index = 0

    def progress(self, step_progress: float, message: str | None) -> dict[str, Any]:
        overall = (self.index + step_progress / 100) / len(self.names) * 100
        out: dict[str, Any] = {
            "currentStep": self.names[self.index],
            "totalSteps": len(self.names),
            "stepProgress": round(step_progress, 2),
            "overallProgress": round(overall, 2),
        }
        if message is not None:
            out["message"] = message
        return out

    async def start(self, step: str | int, message: str | None = None) -> None:
        """Begin ``step`` (its name or 0-based index) at 0 %."""
        if isinstance(step, str):
            if step not in self.names:
                raise ValueError(f"unknown step {step!r}; steps: {self.names}")
            step = self.names.index(step)
        if not 0 <= step < len(self.names):
            raise ValueError(f"step index {step} out of range 0..{len(self.names) - 1}")
        self.index = step
        await self._report(0.0, message)

    async def update(self, step_progress: float, message: str | None = None) -> None:
        """Report the current step at ``step_progress`` percent (0-100)."""
        if not 0 <= step_progress <= 100:
            raise ValueError(f"step_progress must be between 0 and 100, got {step_progress}")
        await self._report(step_progress, message)

    async def finish(self, message: str | None = None) -> None:
        """Mark the last step done (overall 100 %)."""
        self.index = len(self.names) - 1
        await self._report(100.0, message)

    async def _report(self, step_progress: float, message: str | None) -> None:
        progress = self.progress(step_progress, message)
        await self.job.update_progress(progress)
        _log(
            logging.INFO,
            "progress",
            self.job,
            message or "",
            step=progress["currentStep"],
            overall=progress["overallProgress"],
        )


class Processor(Generic[P]):
    """Base class of a queue's processor.  Set ``queue``, implement :meth:`process`."""

    queue: ClassVar[str]
    #: How this queue's failures are retried by error type (e.g. honour Retry-After);
    #: the worker running the processor uses it.
    retry_policy: ClassVar[RetryPolicy | None] = None
    #: ``module:function`` of a top-level handler that runs this processor inside a
    #: worker process pool (see ``QueueConfig.processes``); None: in-process only.
    pooled: ClassVar[str | None] = None

    def __init__(self, service: QueueService) -> None:
        self.service = service

    async def process(self, job: Job, payload: P) -> Any:
        """Run one job; ``payload`` is its validated data.  Return a JSON value."""
        raise NotImplementedError

    def steps(self, job: Job, names: Sequence[str]) -> Steps:
        return Steps(job, names)

    async def handle(self, job: Job) -> Any:
        """The worker's handler: ``Worker(queue, processor.handle)``."""
        try:
            payload = cast(P, self.service.parse(job))
        except PayloadInvalid as exc:
            _log(logging.ERROR, "failed", job, str(exc))
            raise UnrecoverableError(str(exc)) from exc
        _log(logging.INFO, "started", job, attempt=job.attempts_made + 1)
        began = time.perf_counter()
        try:
            result = await self.process(job, payload)
        except asyncio.CancelledError:
            _log(logging.INFO, "stopped", job, "cancelled, timed out or shutting down")
            raise
        except Exception as exc:
            _log(
                logging.WARNING,
                "failed",
                job,
                f"{type(exc).__name__}: {exc}",
                attempt=job.attempts_made + 1,
                seconds=round(time.perf_counter() - began, 3),
            )
            raise
        _log(logging.INFO, "completed", job, seconds=round(time.perf_counter() - began, 3))
        return result
