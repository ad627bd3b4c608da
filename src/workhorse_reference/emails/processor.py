"""The ``scheduled-emails`` processor: ``send`` delivers one e-mail exactly once
(how, and the one window that remains, in :mod:`workhorse_reference.emails.delivery`);
``enqueue-due`` queues a ``send`` job per due e-mail
(:mod:`workhorse_reference.emails.due`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from workhorse.app.processor import Processor
from workhorse.app.service import QueueService
from workhorse.errors import UnrecoverableError
from workhorse.job import Job
from workhorse_reference.domain.db import Database
from workhorse_reference.emails.claim import CLAIM_TTL
from workhorse_reference.emails.delivery import deliver
from workhorse_reference.emails.due import enqueue_due
from workhorse_reference.emails.jobs import check_owner
from workhorse_reference.emails.payloads import (
    PAYLOADS,
    QUEUE,
    EnqueueDuePayload,
    ScheduledEmailPayload,
)
from workhorse_reference.mail import Mailer

Payload = ScheduledEmailPayload | EnqueueDuePayload
SEND_STEPS = ("claim", "send", "record")


def payload_of(job: Job, payload: Any, models: dict[str, type[BaseModel]]) -> BaseModel:
    """The job's payload model instance: as the queue service parsed it when the
    registry names the model, else validated here (field errors fail the job
    without retry)."""
    model = models.get(job.name)
    if model is None:
        known = ", ".join(sorted(models))
        raise UnrecoverableError(
            f"name: unknown job {job.name!r} on {job.queue_name}; known: {known}"
        )
    if isinstance(payload, model):
        return payload
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = "; ".join(
            f"data.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise UnrecoverableError(f"invalid {job.name} payload: {fields}") from None


class ScheduledEmailsProcessor(Processor[Payload]):
    """``functools.partial(ScheduledEmailsProcessor, db=db, mailer=mailer)`` is a
    processor factory for ``create_app``."""

    queue = QUEUE

    def __init__(
        self,
        service: QueueService,
        *,
        db: Database,
        mailer: Mailer,
        claim_ttl: float = CLAIM_TTL,
    ) -> None:
        super().__init__(service)
        self.db = db
        self.mailer = mailer
        self.claim_ttl = claim_ttl

    async def process(self, job: Job, payload: Payload) -> Any:
        data = payload_of(job, payload, PAYLOADS)
        if isinstance(data, EnqueueDuePayload):
            return await self._enqueue_due(job, data)
        assert isinstance(data, ScheduledEmailPayload)
        return await self._send(job, data)

    async def _send(self, job: Job, data: ScheduledEmailPayload) -> dict[str, Any]:
        check_owner(job, data.user_id)
        steps = self.steps(job, SEND_STEPS)
        outcome = await deliver(
            self.db,
            self.mailer,
            data.email_id,
            data.user_id,
            last_attempt=job.attempts_made + 1 >= job.attempts,
            ttl=self.claim_ttl,
            phase=steps.start,
        )
        await steps.finish("sent" if outcome.sent else "nothing to send")
        return outcome.result()

    async def _enqueue_due(self, job: Job, data: EnqueueDuePayload) -> dict[str, int]:
        steps = self.steps(job, ["enqueue"])

        async def progress(done: int, total: int) -> None:
            await steps.update(100 * done / total, f"{done}/{total} due e-mails")

        counts = await enqueue_due(
            self.service, self.db, limit=data.limit, ttl=self.claim_ttl, progress=progress
        )
        await steps.finish(f"{counts['due']} due e-mails")
        return counts
