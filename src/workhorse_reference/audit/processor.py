"""The ``audit-cleanup`` processor: delete audit entries older than N days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from workhorse.app.payloads import AuditCleanupPayload
from workhorse.app.processor import Processor
from workhorse.app.queues import AUDIT_CLEANUP, AUDIT_CLEANUP_JOB
from workhorse.app.service import QueueService
from workhorse.job import Job
from workhorse_reference.audit.cleanup import DEFAULT_BATCH, delete_older_than
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.types import utcnow

QUEUE = AUDIT_CLEANUP
CLEANUP_JOB = AUDIT_CLEANUP_JOB
#: The queue's payload model by job name (its ``QueueConfig.payloads``).
PAYLOADS: Mapping[str, type[BaseModel]] = MappingProxyType({CLEANUP_JOB: AuditCleanupPayload})


class AuditCleanupProcessor(Processor[AuditCleanupPayload]):
    """Deletes in batches of ``batch`` rows; progress says how many of how many."""

    queue = QUEUE

    def __init__(
        self,
        service: QueueService,
        *,
        db: Database,
        batch: int = DEFAULT_BATCH,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(service)
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.db = db
        self.batch = batch
        self.clock = clock

    async def process(self, job: Job, payload: AuditCleanupPayload) -> Any:
        # Validated here too, for a registry that has no model for this queue.
        payload = AuditCleanupPayload.model_validate(payload)
        cutoff = self.clock() - dt.timedelta(days=payload.days_to_keep)
        steps = self.steps(job, ["delete old entries"])
        await steps.start(0, f"entries before {cutoff.isoformat(timespec='seconds')}")

        async def report(deleted: int, total: int) -> None:
            message = f"{deleted}/{total} deleted"
            progress = steps.progress(100 * deleted / total, message)
            await job.update_progress({**progress, "deleted": deleted, "total": total})

        deleted = await delete_older_than(self.db, cutoff, batch=self.batch, progress=report)
        await steps.finish(f"{deleted} deleted")
        return {"deleted": deleted}
