"""The due sweep: one ``send`` job per due e-mail, with the e-mail id as job id.

The scheduler runs the ``enqueue-due`` job every few minutes instead of sending
anything itself.  A due e-mail is a ``pending`` one whose ``send_at`` has passed, or
a ``sending`` one whose claim is older than the claim ttl (its attempt died, see
:mod:`workhorse_reference.emails.delivery`).  Because the job id is the e-mail id,
a sweep that runs twice, or two schedulers' sweeps, add each e-mail's job once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Awaitable, Callable

from sqlalchemy import and_, or_, select

from workhorse.app.service import QueueService
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import ScheduledEmail
from workhorse_reference.domain.types import utcnow
from workhorse_reference.emails.claim import CLAIM_TTL
from workhorse_reference.emails.jobs import Enqueued, enqueue_once
from workhorse_reference.emails.payloads import QUEUE, SEND_JOB

E = ScheduledEmail
Progress = Callable[[int, int], Awaitable[None]]


async def due_emails(
    db: Database, *, limit: int, ttl: float = CLAIM_TTL, now: dt.datetime | None = None
) -> list[tuple[str, str]]:
    """``(email id, user id)`` of the due e-mails, the longest overdue first."""
    now = now or utcnow()
    stmt = (
        select(E.id, E.user_id)
        .where(
            or_(
                and_(E.status == "pending", E.send_at <= now),
                and_(E.status == "sending", E.claimed_at < now - dt.timedelta(seconds=ttl)),
            )
        )
        .order_by(E.send_at, E.id)
        .limit(limit)
    )
    async with db.session() as s:
        return [(row.id, row.user_id) for row in await s.execute(stmt)]


async def _no_progress(_done: int, _total: int) -> None:
    return None


async def enqueue_due(
    service: QueueService,
    db: Database,
    *,
    limit: int = 500,
    ttl: float = CLAIM_TTL,
    progress: Progress = _no_progress,
) -> dict[str, int]:
    """Enqueue a send job for each due e-mail; counts by what happened
    (``due``, ``added``, ``present``: its job already waits or runs, ``revived``)."""
    due = await due_emails(db, limit=limit, ttl=ttl)
    counts: Counter[str] = Counter({e.value: 0 for e in Enqueued})
    for i, (email_id, user_id) in enumerate(due, 1):
        what = await enqueue_once(
            service,
            QUEUE,
            SEND_JOB,
            {"emailId": email_id, "userId": user_id},
            job_id=email_id,
            owner=user_id,
        )
        counts[what.value] += 1
        await progress(i, len(due))
    return {"due": len(due), **counts}
