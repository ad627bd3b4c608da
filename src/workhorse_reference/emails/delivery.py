"""Sending a scheduled e-mail exactly once, even when its job is retried or runs
twice (a duplicate job, or a job taken again after its worker stalled).

One attempt is three steps, each in its own committed transaction or conversation
(see :mod:`workhorse_reference.emails.claim` for the row states):

1. **claim** the row (``pending`` -> ``sending``, with a fresh claim token).  Only
   one attempt can win; the others find the row ``sending`` (:class:`ClaimHeld`,
   retried later) or already ``sent`` (they complete and report ``alreadySent``);
2. **send** it over SMTP with a Message-ID derived from the e-mail id
   (``<id.scheduled-email@domain>``), the same on every attempt;
3. **mark** it ``sent`` (``sent_at``, ``message_id``), conditional on the token.

A failure before the server accepted the message sends nothing: a temporary one (a
4xx reply, no connection, a timeout) gives the row back to ``pending`` and the job
retries; on the job's last attempt, or for a permanent refusal (a 5xx reply), the row
is marked ``failed`` with ``last_error`` and the job fails without retry.

**The window that remains.**  The SMTP server has accepted the message -- it
answered ``250`` to the end of DATA, and from then on the message is on its way --
and this process dies, loses its database, or loses the connection before that
``250`` reaches it, before step 3 commits.  The row then stays ``sending`` with this
attempt's claim.  No attempt sends it while the claim is younger than the claim ttl;
after that the next attempt (a retry of the job, or the due sweep reviving it)
cannot tell "accepted, not recorded" from "died before sending", takes the claim
over and sends it again: **a duplicate, never a loss.**  (A lost ``250`` shows up
here as a temporary error, which gives the row back at once; the effect is the
same.)  The alternative order -- mark ``sent`` first, then send -- would turn the same
crash into an e-mail never sent.

This window cannot be closed from the sender's side alone: the server's acceptance
and our commit are two systems with no transaction in common, and SMTP has no way
to ask a server "did you already accept this message?" nor an idempotency key it
would honour.  Only the receiving side can close it, which is why the Message-ID is
derived from the e-mail id: both copies carry the same Message-ID, so a receiver
(or a mail client) that de-duplicates by Message-ID shows the message once.  An
attempt that is cancelled (time limit, job cancelled, shutdown) while sending keeps
its claim for the same reason: it cannot know whether the message went out.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from workhorse.errors import UnrecoverableError
from workhorse_reference.domain.db import Database
from workhorse_reference.emails.claim import (
    CLAIM_TTL,
    AlreadySent,
    Claimed,
    NotDue,
    claim,
    mark_failed,
    mark_sent,
    release,
)
from workhorse_reference.mail import Mailer, MailError

#: The ``kind`` part of scheduled e-mails' Message-IDs.
MESSAGE_KIND = "scheduled-email"
Phase = Callable[[str], Awaitable[None]]
log = logging.getLogger("workhorse_reference.emails")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a delivery ended when it did not raise."""

    email_id: str
    sent: bool = False
    already_sent: bool = False
    message_id: str | None = None
    not_due_until: dt.datetime | None = None

    def result(self) -> dict[str, Any]:
        """The job's return value."""
        out: dict[str, Any] = {
            "emailId": self.email_id,
            "sent": self.sent,
            "alreadySent": self.already_sent,
            "messageId": self.message_id,
        }
        if self.not_due_until is not None:
            out["notDueUntil"] = self.not_due_until.isoformat()
        return out


async def _nothing(_phase: str) -> None:
    return None


async def deliver(
    db: Database,
    mailer: Mailer,
    email_id: str,
    user_id: str,
    *,
    last_attempt: bool,
    ttl: float = CLAIM_TTL,
    phase: Phase = _nothing,
) -> Outcome:
    """Send e-mail ``email_id`` of ``user_id`` unless it was sent already (see the
    module's documentation).  ``last_attempt``: no retry follows a failure of this
    one, so a temporary failure marks the e-mail failed; ``phase`` is awaited with
    ``"claim"``, ``"send"`` and ``"record"`` as the attempt reaches them."""
    await phase("claim")
    got = await claim(db, email_id, user_id, ttl=ttl)
    if isinstance(got, AlreadySent):
        return Outcome(email_id, already_sent=True, message_id=got.message_id)
    if isinstance(got, NotDue):
        return Outcome(email_id, not_due_until=got.send_at)
    await phase("send")
    message_id = await _send(db, mailer, got, last_attempt)
    await phase("record")
    if not await mark_sent(db, email_id, got.token, message_id):
        log.warning(
            "scheduled e-mail %s was sent as %s, but its claim had been taken over by "
            "another attempt, which may send it again: raise the claim ttl above the "
            "queue's time limit",
            email_id,
            message_id,
        )
    return Outcome(email_id, sent=True, message_id=message_id)


async def _send(db: Database, mailer: Mailer, got: Claimed, last_attempt: bool) -> str:
    message = mailer.message(
        to=got.to, subject=got.subject, body=got.body, kind=MESSAGE_KIND, key=got.email_id
    )
    try:
        await mailer.send(message)
    except MailError as exc:
        error = str(exc)
        if exc.permanent:
            await mark_failed(db, got.email_id, got.token, error)
            raise UnrecoverableError(f"scheduled e-mail {got.email_id!r}: {error}") from exc
        if last_attempt:
            await mark_failed(db, got.email_id, got.token, f"gave up: {error}")
        else:
            await release(db, got.email_id, got.token, error)
        raise
    return str(message["Message-ID"])
