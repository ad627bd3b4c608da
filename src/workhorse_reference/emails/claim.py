"""The database side of sending a scheduled e-mail exactly once: claiming its row,
then recording how the attempt ended.  Each function is one short committed
transaction, and every write after the claim is conditional on the claim token, so
an attempt whose claim was taken over can no longer change the row.

Row states (``ScheduledEmail.status``)::

    pending --claim--> sending --mark_sent--> sent
       ^                  |  \\--mark_failed--> failed
       +----release-------+
    sending (claim older than the ttl) --claim--> sending (new token)

A claim is a conditional ``UPDATE`` that only succeeds on a due ``pending`` row, or
on a ``sending`` row whose claim is older than ``ttl`` seconds -- an attempt that
died (worker killed) without recording anything.  ``ttl`` must exceed the longest
an attempt can run (the queue's time limit plus the engine's kill grace: 60 s + 5 s
for ``scheduled-emails``), so a live attempt's claim is never taken over.

The ``UPDATE`` is the transaction's first statement: on PostgreSQL two claimants
serialise on the row lock and the second re-checks the condition against the first
one's commit; on SQLite the first write takes the database's write lock.  Either
way exactly one claimant sees one updated row.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import and_, or_, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update

from workhorse.errors import UnrecoverableError
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import ScheduledEmail
from workhorse_reference.domain.types import utcnow

#: Seconds after which a ``sending`` claim is considered abandoned (see above).
CLAIM_TTL = 120.0

E = ScheduledEmail


@dataclass(frozen=True, slots=True)
class Claimed:
    """This attempt owns the row until it records the outcome."""

    token: str
    email_id: str
    to: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class AlreadySent:
    message_id: str | None
    sent_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class NotDue:
    send_at: dt.datetime


class ClaimHeld(Exception):
    """Another attempt is sending this e-mail right now (or died doing so less than
    the claim ttl ago).  An ordinary error: the job retries; once the claim is older
    than the ttl, a retry or the due sweep takes the e-mail over."""


async def _rowcount(session: AsyncSession, stmt: Update) -> int:
    result = cast("CursorResult[Any]", await session.execute(stmt))
    return int(result.rowcount)


async def claim(
    db: Database,
    email_id: str,
    user_id: str,
    *,
    ttl: float = CLAIM_TTL,
    now: dt.datetime | None = None,
) -> Claimed | AlreadySent | NotDue:
    """Claim e-mail ``email_id`` of ``user_id`` for this attempt (committed on
    return).  Raises :class:`ClaimHeld` when another attempt holds it, and
    ``UnrecoverableError`` when it does not exist, is not the user's, or is
    cancelled or failed."""
    now = now or utcnow()
    token = secrets.token_hex(16)
    stmt = (
        update(E)
        .where(
            E.id == email_id,
            E.user_id == user_id,
            or_(
                and_(E.status == "pending", E.send_at <= now),
                and_(E.status == "sending", E.claimed_at < now - dt.timedelta(seconds=ttl)),
            ),
        )
        .values(status="sending", claim_token=token, claimed_at=now, attempts=E.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    async with db.session() as s:
        won = await _rowcount(s, stmt) == 1
        row = await s.get(E, email_id, populate_existing=True)
    if won and row is not None:
        return Claimed(token, row.id, row.to_address, row.subject, row.body)
    return _not_claimed(row, email_id, user_id, ttl)


def _not_claimed(
    row: ScheduledEmail | None, email_id: str, user_id: str, ttl: float
) -> AlreadySent | NotDue:
    """Why the claim did not match: a result, or the error to raise."""
    if row is None or row.user_id != user_id:
        # The same answer for "absent" and "another user's": ids are not revealed.
        raise UnrecoverableError(f"scheduled e-mail {email_id!r} of user {user_id!r} not found")
    if row.status == "sent":
        return AlreadySent(row.message_id, row.sent_at)
    if row.status == "pending":
        return NotDue(row.send_at)
    if row.status == "sending":
        assert row.claimed_at is not None
        until = row.claimed_at + dt.timedelta(seconds=ttl)
        raise ClaimHeld(
            f"scheduled e-mail {email_id!r} is being sent by another attempt (claimed at "
            f"{row.claimed_at.isoformat()}); it may be taken over after {until.isoformat()}"
        )
    detail = f": {row.last_error}" if row.status == "failed" and row.last_error else ""
    raise UnrecoverableError(f"scheduled e-mail {email_id!r} is {row.status}{detail}")


def _owned(email_id: str, token: str) -> Update:
    return (
        update(E)
        .where(E.id == email_id, E.claim_token == token, E.status == "sending")
        .execution_options(synchronize_session=False)
    )


async def mark_sent(db: Database, email_id: str, token: str, message_id: str) -> bool:
    """Record that the server accepted the message.  False when the claim was taken
    over meanwhile (the row is then another attempt's)."""
    async with db.session() as s:
        stmt = _owned(email_id, token).values(
            status="sent", sent_at=utcnow(), message_id=message_id, last_error=None
        )
        return await _rowcount(s, stmt) == 1


async def release(db: Database, email_id: str, token: str, error: str) -> bool:
    """Give the row back (``pending``) after a failure that sent nothing, keeping
    the error; a retry claims it again."""
    async with db.session() as s:
        stmt = _owned(email_id, token).values(
            status="pending", claim_token=None, claimed_at=None, last_error=error
        )
        return await _rowcount(s, stmt) == 1


async def mark_failed(db: Database, email_id: str, token: str, error: str) -> bool:
    """The e-mail will not be sent: refused for good, or out of attempts."""
    async with db.session() as s:
        stmt = _owned(email_id, token).values(status="failed", last_error=error)
        return await _rowcount(s, stmt) == 1
