"""Helpers the reference job types share with the engine: enqueueing a job once by
id, and checking a job's owner against its payload's user."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from workhorse.app.service import QueueService
from workhorse.errors import InvalidTransition, UnrecoverableError
from workhorse.job import TERMINAL, Job


class Enqueued(StrEnum):
    ADDED = "added"
    PRESENT = "present"  # a job with that id is waiting, delayed or running
    REVIVED = "revived"  # its finished job was put back to waiting


async def enqueue_once(
    service: QueueService,
    queue: str,
    name: str,
    data: Any,
    *,
    job_id: str,
    owner: str | None,
    delay: float = 0.0,
) -> Enqueued:
    """Add job ``job_id`` unless a job with that id exists.

    The caller asks because its record (a due e-mail, a ready task) says the work is
    still to do; a *finished* job with that id -- e.g. one that ran before the work
    was due, or failed while another attempt held the work -- is retried rather
    than left in the way, since adding its id again would only return it.  Running
    it again is harmless: the processors check the record first."""
    q = service.queue(queue)
    existing = await q.get_job(job_id)
    if existing is None:
        await service.add(queue, name, data, owner=owner, job_id=job_id, delay=delay)
        return Enqueued.ADDED
    if existing.state in TERMINAL:
        try:
            await q.retry_job(job_id, existing.state)
        except InvalidTransition:  # retried by someone else meanwhile
            return Enqueued.PRESENT
        return Enqueued.REVIVED
    return Enqueued.PRESENT


def check_owner(job: Job, user_id: str) -> None:
    """A job added on a user's behalf (``owner`` set, as the API does) may only act
    on that user's records: fail it without retry otherwise."""
    if job.owner is not None and job.owner != user_id:
        raise UnrecoverableError(
            f"data.userId: {user_id!r} is not the job's owner {job.owner!r}; "
            "a job may only act on its owner's records"
        )
