"""Handlers for worker process pools (``QueueConfig.processes``).

A pool process imports its handler by name and receives jobs over a pipe, so it
cannot be handed a processor object built in the worker: each handler here builds
its processor once per pool process, from the same environment as the worker
(domain database, export directory, secret), and runs jobs through it.  The pool
process never uses the job store: progress, logs and the result travel back to the
worker, which records them.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from workhorse.app.queues import default_registry
from workhorse.app.service import QueueService
from workhorse.app.settings import Settings
from workhorse.job import Job
from workhorse.store import connect
from workhorse_reference.app import from_env
from workhorse_reference.exports import ExportProcessor


@functools.cache
def _exports() -> ExportProcessor:
    """This pool process's export processor (built on first use, then kept)."""
    settings = Settings()
    reference = from_env(settings, dict(os.environ))
    registry = default_registry().for_environment(settings.environment)
    # The service only validates payloads here; its store is never called.
    service = QueueService(connect(settings.url()), registry)
    return ExportProcessor(
        service,
        db=reference.db,
        artifacts=reference.artifacts,
        settings=reference.exports,
        mailer=reference.mailer,
    )


async def export(job: Job) -> Any:
    """The ``exports`` queue's handler in a pool process."""
    await job.log(f"export running in pool process {os.getpid()}")
    return await _exports().handle(job)
