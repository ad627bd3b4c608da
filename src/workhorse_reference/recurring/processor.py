"""The ``recurring-sessions`` processor (see :mod:`.generate` for what it writes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from workhorse.app.payloads import MAX_HORIZON_DAYS, RecurringSessionsPayload
from workhorse.app.processor import Processor
from workhorse.app.queues import RECURRING_SESSIONS, RECURRING_SESSIONS_JOB
from workhorse.app.service import QueueService
from workhorse.errors import UnrecoverableError
from workhorse.job import Job
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.types import utcnow
from workhorse_reference.recurring.generate import UnknownUser, generate

QUEUE = RECURRING_SESSIONS
GENERATE_JOB = RECURRING_SESSIONS_JOB
#: The queue's payload model by job name (its ``QueueConfig.payloads``).
PAYLOADS: Mapping[str, type[BaseModel]] = MappingProxyType({GENERATE_JOB: RecurringSessionsPayload})


class RecurringSessionsProcessor(Processor[RecurringSessionsPayload]):
    """Generates occurrences for one user (``userId``) or all users.
    ``horizon_days`` is the default horizon, a job's ``horizonDays`` overrides it."""

    queue = QUEUE

    def __init__(
        self,
        service: QueueService,
        *,
        db: Database,
        horizon_days: int = 90,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(service)
        if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
            raise ValueError(f"horizon_days must be 1..{MAX_HORIZON_DAYS}, got {horizon_days}")
        self.db = db
        self.horizon_days = horizon_days
        self.clock = clock

    async def process(self, job: Job, payload: RecurringSessionsPayload) -> Any:
        # Validated here too, for a registry that has no model for this queue.
        payload = RecurringSessionsPayload.model_validate(payload)
        days = payload.horizon_days or self.horizon_days
        steps = self.steps(job, ["generate occurrences"])
        await steps.start(0, f"series of {payload.user_id or 'every user'}, {days} days ahead")
        shown = -1

        async def report(done: int, total: int) -> None:
            nonlocal shown
            percent = 100 * done // total
            if percent != shown:  # at most one store write per percent
                shown = percent
                await steps.update(percent, f"{done}/{total} series")

        try:
            result = await generate(
                self.db,
                user_id=payload.user_id,
                now=self.clock(),
                horizon=dt.timedelta(days=days),
                progress=report,
            )
        except UnknownUser as exc:
            raise UnrecoverableError(str(exc)) from None
        for error in result.errors:
            await job.log(f"series {error['seriesId']} of {error['userId']}: {error['error']}")
        await steps.finish(
            f"{result.created} created, {result.skipped} already there, "
            f"{len(result.errors)} series in error"
        )
        return result.as_dict()
