"""The optional "your export is ready" e-mail (``notify: true``): the export's last
step, once the file is stored and its signed URL made, sent to the address of the
user whose rows were exported (never to anyone else, even when an admin asked for
the export).

**Once per job.**  The message's Message-ID is derived from the job's id and its
creation time (``<exports-<id>-<created ms>.export-ready@domain>``), the same on
every attempt of the job and different for a later job reusing the id.  Once the
server accepts the message, a :class:`~workhorse_reference.exports.artifacts.Notice`
is written beside the file and a line to the job's log; an attempt that finds the
notice does not send again and reports ``emailed: true`` with ``alreadySent``.  A
retry also reuses the file an earlier attempt stored (see
:mod:`workhorse_reference.exports.processor`), so a failed e-mail does not cost a
second export (unless the stored link has used up half its validity).  The notice
lives in the artifact store, not the job store, because an export may run in a pool
process that has no access to the job store.

**The window that remains** is the one of every SMTP sender (see
:mod:`workhorse_reference.emails.delivery`): the server accepted the message and the
attempt died before the notice was written.  The next attempt sends it again, with
the same Message-ID: a duplicate, never a loss, and a receiver that de-duplicates by
Message-ID shows it once.  Two attempts of one job never run at once (a job is
active in one worker), except after a stall, when the stalled attempt may still be
sending.

**When the e-mail fails, the export does not.**  The file is the product and the
e-mail a convenience, so:

- a temporary failure (a 4xx reply, no connection, a timeout) fails the attempt and
  the job retries as its queue says, reusing the stored file; on the job's last
  attempt it completes instead, with ``emailed: false`` and the reason;
- a permanent refusal (a 5xx reply, a bad address) completes the export with
  ``emailed: false`` and the server's answer: sending again would be refused again;
- no e-mail can be sent (the user is unknown or has no address, or the download
  URL is relative because ``WORKHORSE_EXPORTS_BASE_URL`` is not set): the export
  completes with ``emailed: false`` and the reason, also written to the job's log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from workhorse.job import Job
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import User
from workhorse_reference.exports.artifacts import Artifact, ArtifactStore, Notice
from workhorse_reference.mail import Mailer, MailError, MailSettings

#: The ``kind`` part of the e-mails' Message-IDs.
MESSAGE_KIND = "export-ready"
SUBJECT = "Your export is ready"
FORMAT_NAMES = {"csv": "CSV", "excel": "Excel", "pdf": "PDF", "docx": "Word", "json": "JSON"}
log = logging.getLogger("workhorse.exports")


@dataclass(frozen=True, slots=True)
class Notified:
    """How the e-mail step ended (when it did not raise): the ``emailed`` fields of
    the job's result."""

    emailed: bool
    reason: str | None = None
    message_id: str | None = None
    already_sent: bool = False

    def fields(self) -> dict[str, Any]:
        if not self.emailed:
            return {"emailed": False, "emailReason": self.reason}
        out: dict[str, Any] = {"emailed": True, "messageId": self.message_id}
        if self.already_sent:
            out["alreadySent"] = True
        return out


#: The result's fields of an export that did not ask for an e-mail.
NOT_REQUESTED = Notified(False, "not requested")


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    name: str


class CannotSend(Exception):
    """No e-mail can be sent for this export; the export completes without one."""


def message_key(job: Job) -> str:
    """What the e-mail's Message-ID is derived from: the same on every attempt of
    ``job``, different for a later job with the same id."""
    return f"{job.queue_name}-{job.id}-{job.created_at}"


def human_size(size: int) -> str:
    """``834 bytes``, ``12.3 kB``, ``4.5 MB`` (decimal units)."""
    if size < 1000:
        return f"{size} byte{'' if size == 1 else 's'}"
    value, unit = size / 1000, "kB"
    for bigger in ("MB", "GB"):
        if value < 999.95:  # would not round up to 1000.0
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"


def _expiry(artifact: Artifact) -> str:
    when = dt.datetime.fromtimestamp(artifact.expires_at, dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _facts(artifact: Artifact) -> list[tuple[str, str]]:
    entity = "all your data" if artifact.entity == "all" else artifact.entity
    return [
        ("Export", entity),
        ("Format", FORMAT_NAMES.get(artifact.format, artifact.format)),
        ("Rows", f"{artifact.rows:,}"),
        ("File", f"{artifact.filename} ({human_size(artifact.size)})"),
        ("Link valid until", _expiry(artifact)),
    ]


def text_body(recipient: Recipient, artifact: Artifact, url: str) -> str:
    facts = "\n".join(f"  {label + ':':<18}{value}" for label, value in _facts(artifact))
    return (
        f"Hello {recipient.name},\n\n"
        "Your export is ready.\n\n"
        f"{facts}\n\n"
        "Download it here:\n"
        f"{url}\n\n"
        "Once the link has expired, start a new export for a fresh one.\n"
    )


def html_body(recipient: Recipient, artifact: Artifact, url: str) -> str:
    e = html.escape
    rows = "".join(
        f'<tr><th align="left" style="padding-right:1em">{e(label)}</th><td>{e(value)}</td></tr>'
        for label, value in _facts(artifact)
    )
    return (
        "<!DOCTYPE html>\n<html><body>\n"
        f"<p>Hello {e(recipient.name)},</p>\n"
        "<p>Your export is ready.</p>\n"
        f"<table>{rows}</table>\n"
        f'<p><a href="{e(url)}">Download {e(artifact.filename)}</a></p>\n'
        "<p>Once the link has expired, start a new export for a fresh one.</p>\n"
        "</body></html>\n"
    )


async def find_recipient(db: Database, user_id: str) -> Recipient:
    """The user's address and name; :class:`CannotSend` when there is none."""
    async with db.session() as session:
        query = select(User.name, User.email).where(User.id == user_id)
        row = (await session.execute(query)).first()
    if row is None:
        raise CannotSend(f"user {user_id!r} is not in the domain database")
    address = (row.email or "").strip()
    if not address:
        raise CannotSend(f"user {user_id!r} has no e-mail address")
    return Recipient(address, row.name or user_id)


class ExportNotifier:
    """Sends the "export ready" e-mails of the exports of ``artifacts`` (see the
    module's documentation).  ``mailer``: None builds one from ``WORKHORSE_SMTP_*``
    the first time an e-mail is sent, as every process of the application reads the
    same environment."""

    def __init__(self, db: Database, artifacts: ArtifactStore, mailer: Mailer | None) -> None:
        self.db = db
        self.artifacts = artifacts
        self._mailer = mailer

    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            self._mailer = Mailer(MailSettings())
        return self._mailer

    async def notify(self, job: Job, user_id: str, artifact: Artifact, url: str) -> Notified:
        """E-mail ``user_id`` the link ``url`` to ``artifact``, unless an earlier
        attempt of ``job`` did.  Raises the :class:`~workhorse_reference.mail.MailError`
        of a temporary failure when the job has attempts left."""
        key = message_key(job)
        notice = await asyncio.to_thread(self.artifacts.notice, job.queue_name, job.id)
        if notice is not None and notice.key == key:
            await job.log(
                f"export-ready e-mail already sent to {notice.to} by an earlier attempt "
                f"(Message-ID {notice.message_id}): not sent again"
            )
            return Notified(True, message_id=notice.message_id, already_sent=True)
        try:
            if not url.startswith(("http://", "https://")):
                raise CannotSend(
                    "the download link is relative: set WORKHORSE_EXPORTS_BASE_URL to the "
                    "API's public address to e-mail it"
                )
            recipient = await find_recipient(self.db, user_id)
        except CannotSend as exc:
            return await self._not_sent(job, str(exc))
        return await self._send(job, key, recipient, artifact, url)

    async def _send(
        self, job: Job, key: str, recipient: Recipient, artifact: Artifact, url: str
    ) -> Notified:
        try:
            message = self.message(recipient, artifact, url, key)
        except ValueError as exc:  # e.g. a line break in the stored address
            return await self._not_sent(job, f"no e-mail can be written to this address: {exc}")
        message_id = str(message["Message-ID"])
        try:
            await self.mailer.send(message)
        except MailError as exc:
            if exc.permanent:
                return await self._not_sent(job, f"the mail server refused it: {exc}")
            if job.attempts_made + 1 >= job.attempts:
                return await self._not_sent(job, f"gave up on the last attempt: {exc}")
            await job.log(
                f"export-ready e-mail to {recipient.address} not sent ({exc}); the job "
                "will retry it, reusing the stored file"
            )
            raise
        notice = Notice(key, message_id, recipient.address, self.artifacts.clock())
        try:
            await asyncio.to_thread(self.artifacts.record_notice, job.queue_name, job.id, notice)
        except OSError:
            # The message went: failing the job now would only send it again.
            log.exception("exports: job %s e-mailed, but its notice was not recorded", job.id)
        await job.log(f"export-ready e-mail sent to {recipient.address} (Message-ID {message_id})")
        return Notified(True, message_id=message_id)

    def message(self, recipient: Recipient, artifact: Artifact, url: str, key: str) -> EmailMessage:
        return self.mailer.message(
            to=recipient.address,
            subject=SUBJECT,
            body=text_body(recipient, artifact, url),
            html=html_body(recipient, artifact, url),
            kind=MESSAGE_KIND,
            key=key,
        )

    async def _not_sent(self, job: Job, reason: str) -> Notified:
        await job.log(f"export-ready e-mail not sent: {reason}")
        return Notified(False, reason)
