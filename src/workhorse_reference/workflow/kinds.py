"""What each kind of workflow task does.

``set_status`` and ``create_follow_up`` change the database: they run inside the
transaction that marks the task done (:func:`workflow.state.finish`), so they happen
once however often the task runs.  ``send_reminder`` sends an e-mail, which no
transaction covers: it becomes a scheduled e-mail row with an id derived from the
task's, sent through the same claim as every scheduled e-mail
(:func:`workhorse_reference.emails.deliver`), so a retried or duplicated run finds it
claimed or sent and never sends it twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from workhorse.errors import UnrecoverableError
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import (
    Invoice,
    Quote,
    ScheduledEmail,
    Session,
    TaskDependency,
    User,
    WorkflowTask,
)
from workhorse_reference.domain.types import utcnow
from workhorse_reference.emails import deliver
from workhorse_reference.mail import Mailer
from workhorse_reference.workflow.params import FollowUpParams, ReminderParams, SetStatusParams
from workhorse_reference.workflow.state import Task


def derived_id(prefix: str, task_id: str) -> str:
    """A stable id for what task ``task_id`` creates (fits the 64-character ids)."""
    return f"{prefix}-{hashlib.sha256(task_id.encode()).hexdigest()[:32]}"


# ---- set_status ---------------------------------------------------------------------
async def set_status(s: AsyncSession, task: Task, params: SetStatusParams) -> dict[str, Any]:
    row: Quote | Invoice | None
    if params.entity == "quote":
        row = await s.get(Quote, params.id, with_for_update=True)
    else:
        row = await s.get(Invoice, params.id, with_for_update=True)
    if row is None or row.user_id != task.user_id:
        raise UnrecoverableError(
            f"params.id: {params.entity} {params.id} of user {task.user_id!r} not found"
        )
    before = row.status
    row.status = params.status
    if isinstance(row, Invoice) and params.status == "paid" and row.paid_at is None:
        row.paid_at = utcnow()
    return {"entity": params.entity, "id": params.id, "from": before, "to": params.status}


# ---- create_follow_up -----------------------------------------------------------------
async def create_follow_up(s: AsyncSession, task: Task, params: FollowUpParams) -> dict[str, Any]:
    """A new pending task that depends on this one, so it is queued (to run at its
    due time) once this one is done."""
    due_at = utcnow() + dt.timedelta(days=params.due_in_days)
    follow_up = WorkflowTask(
        id=derived_id("fu", task.id),
        user_id=task.user_id,
        kind=params.kind,
        title=params.title,
        params=params.params,
        status="pending",
        due_at=due_at,
    )
    s.add(follow_up)
    await s.flush()
    s.add(TaskDependency(task_id=follow_up.id, depends_on_id=task.id))
    return {"followUpId": follow_up.id, "kind": params.kind, "dueAt": due_at.isoformat()}


# ---- send_reminder --------------------------------------------------------------------
async def send_reminder(
    db: Database, mailer: Mailer, task: Task, params: ReminderParams, *, last_attempt: bool
) -> dict[str, Any]:
    email_id = derived_id("wf", task.id)
    to = await _reminder_row(db, email_id, task, params)
    outcome = await deliver(db, mailer, email_id, task.user_id, last_attempt=last_attempt)
    return {
        "emailId": email_id,
        "to": to,
        "messageId": outcome.message_id,
        "alreadySent": outcome.already_sent,
    }


async def _reminder_row(db: Database, email_id: str, task: Task, params: ReminderParams) -> str:
    """Create the reminder's e-mail row unless an earlier run did; its recipient."""
    async with db.session() as s:
        existing = await s.get(ScheduledEmail, email_id)
        if existing is not None:
            return existing.to_address
        to, subject, body = await _reminder_text(s, task, params)
    try:
        async with db.session() as s:
            s.add(
                ScheduledEmail(
                    id=email_id,
                    user_id=task.user_id,
                    to_address=to,
                    subject=subject,
                    body=body,
                    send_at=utcnow(),
                )
            )
    except IntegrityError:  # a concurrent run of the task created it first
        pass
    return to


async def _reminder_text(
    s: AsyncSession, task: Task, params: ReminderParams
) -> tuple[str, str, str]:
    user = await s.get(User, task.user_id)
    if user is None:
        raise UnrecoverableError(f"user {task.user_id!r} of workflow task {task.id!r} not found")
    to = params.to or user.email
    if params.session_id is None:
        assert params.subject is not None
        assert params.body is not None
        return to, params.subject, params.body
    session = await s.get(Session, params.session_id)
    if session is None or session.user_id != task.user_id:
        raise UnrecoverableError(
            f"params.sessionId: session {params.session_id} of user {task.user_id!r} not found"
        )
    when = session.starts_at.astimezone(_zone(user.timezone))
    where = f" at {session.location}" if session.location else ""
    subject = params.subject or f"Reminder: {session.title}"
    body = params.body or (
        f'Hello {user.name},\n\nThis is a reminder of your session "{session.title}" '
        f"on {when:%A %d %B %Y at %H:%M} ({when.tzname()}){where}.\n"
    )
    return to, subject, body


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
