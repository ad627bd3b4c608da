"""Demo data for the reference application: two users, ``alice`` and ``bob`` (the
demo's token users), each with their own contacts, quotes, invoices, sessions (two
weekly series among them), scheduled e-mails (some due within minutes), a small
workflow whose tasks depend on each other, and audit entries (some older than 30
days, for the clean-up job).

Deterministic: each user's rows come from a random generator seeded with the user's
id, and dates are placed relative to ``now``, so a given ``now`` gives the same rows
(stable screenshots).  Idempotent: a user that already exists is left alone, so
running it again adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import (
    AuditEntry,
    Base,
    Contact,
    Invoice,
    Quote,
    ScheduledEmail,
    Session,
    TaskDependency,
    User,
    WorkflowTask,
)
from workhorse_reference.domain.types import utcnow

UTC = dt.UTC
DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DemoUser:
    id: str
    name: str
    email: str
    timezone: str


DEMO_USERS = (
    DemoUser("alice", "Alice Martin", "alice@demo.example", "Europe/Paris"),
    DemoUser("bob", "Bob Carter", "bob@demo.example", "America/New_York"),
)

FIRST_NAMES = (
    "Camille", "Hugo", "Léa", "Lucas", "Chloé", "Nathan", "Manon", "Louis", "Emma",
    "Jules", "Sarah", "Adam", "Inès", "Paul", "Zoé", "Noah", "Julia", "Arthur",
    "Olivia", "Ethan", "Grace", "Henry", "Maya", "Oscar",
)  # fmt: skip
LAST_NAMES = (
    "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Walker", "Nguyen", "Fischer",
    "Rossi", "Novak", "Keller", "Lambert",
)  # fmt: skip
COMPANIES = (
    "Atelier Nord", "Brightpath Ltd", "Cobalt Conseil", "Dunmore & Co", "Estuaire SA",
    "Fieldstone", "Granit Studio", "Harbor Analytics", "Iris Santé", "Juniper Labs",
)  # fmt: skip
SESSION_TITLES = (
    "Leadership coaching", "Career review", "Team workshop", "Goal setting",
    "Feedback session", "Onboarding session", "Follow-up call", "Strategy review",
)  # fmt: skip
LOCATIONS = ("Video call", "Office, room 3", "Client site", "Phone", "Coworking space")
QUOTE_STATUSES = ["draft"] * 3 + ["sent"] * 4 + ["accepted"] * 5 + ["rejected"] * 2 + ["expired"]
INVOICE_STATUSES = ["draft"] * 2 + ["sent"] * 4 + ["paid"] * 6 + ["overdue"] * 2 + ["cancelled"]
#: The two weekly series of every demo user: rule, local start time, minutes.
SERIES = (
    ("FREQ=WEEKLY;BYDAY=TU;COUNT=12", 1, dt.time(9, 0), 60),  # weekday 1 = Tuesday
    ("FREQ=WEEKLY;BYDAY=TH;COUNT=8", 3, dt.time(14, 0), 90),  # weekday 3 = Thursday
)


async def seed_demo(db: Database, now: dt.datetime | None = None) -> dict[str, Any]:
    """Create the demo users' data (see the module doc).  Returns ``{"created": [user
    ids], "skipped": [user ids already there], "rows": {user id: {table: count}}}``."""
    now = (now or utcnow()).astimezone(UTC).replace(second=0, microsecond=0)
    out: dict[str, Any] = {"created": [], "skipped": [], "rows": {}}
    for user in DEMO_USERS:
        try:
            async with db.session() as s:
                if await s.get(User, user.id) is not None:
                    out["skipped"].append(user.id)
                    continue
                rows = await _DemoData(s, user, now).create()
        except IntegrityError:  # another seed created this user meanwhile
            out["skipped"].append(user.id)
            continue
        out["created"].append(user.id)
        out["rows"][user.id] = rows
    return out


class _DemoData:
    """One user's rows, added to session ``s`` in dependency order."""

    def __init__(self, s: AsyncSession, user: DemoUser, now: dt.datetime) -> None:
        self.s = s
        self.user = user
        self.now = now
        self.zone = ZoneInfo(user.timezone)
        self.rng = random.Random(f"workhorse-demo:{user.id}")
        self.counts: Counter[str] = Counter()

    async def _add(self, rows: Sequence[Base]) -> None:
        self.s.add_all(rows)
        await self.s.flush()  # ids for the rows that refer to these
        for row in rows:
            self.counts[str(row.__tablename__)] += 1

    async def create(self) -> dict[str, int]:
        u = self.user
        await self._add([User(id=u.id, name=u.name, email=u.email, timezone=u.timezone)])
        contacts = await self._contacts()
        quotes = await self._quotes(contacts)
        await self._invoices(contacts, quotes)
        await self._sessions(contacts)
        await self._emails(contacts)
        await self._workflow(contacts, quotes)
        await self._audit(contacts, quotes)
        return dict(self.counts)

    def _local(self, days: int, at: dt.time) -> dt.datetime:
        """``at`` o'clock in the user's zone, ``days`` days from today there."""
        day = self.now.astimezone(self.zone).date() + dt.timedelta(days=days)
        return dt.datetime.combine(day, at, self.zone).astimezone(UTC)

    async def _contacts(self) -> list[Contact]:
        rng = self.rng
        contacts = []
        for _ in range(rng.randint(24, 36)):
            first, last, company = (
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                rng.choice(COMPANIES),
            )
            domain = company.lower().replace(" & ", "-").replace(" ", "-") + ".example"
            contacts.append(
                Contact(
                    user_id=self.user.id,
                    first_name=first,
                    last_name=last,
                    email=f"{first.lower()}.{last.lower()}@{domain}",
                    phone=f"+33 6 {rng.randint(10, 99)} {rng.randint(10, 99)} "
                    f"{rng.randint(10, 99)} {rng.randint(10, 99)}",
                    company=company,
                    created_at=self.now - rng.randint(1, 400) * DAY,
                )
            )
        await self._add(contacts)
        return contacts

    async def _quotes(self, contacts: list[Contact]) -> list[Quote]:
        rng = self.rng
        statuses = list(QUOTE_STATUSES)
        rng.shuffle(statuses)
        quotes = []
        for number, status in enumerate(statuses, 1):
            issued = self.now - rng.randint(3, 180) * DAY
            quotes.append(
                Quote(
                    user_id=self.user.id,
                    contact_id=rng.choice(contacts).id,
                    number=f"Q-{issued.year}-{number:03d}",
                    title=f"{rng.choice(SESSION_TITLES)} programme",
                    amount_cents=rng.randint(6, 180) * 5_000,
                    status=status,
                    issued_on=issued,
                    valid_until=issued + 30 * DAY,
                )
            )
        await self._add(quotes)
        return quotes

    async def _invoices(self, contacts: list[Contact], quotes: list[Quote]) -> None:
        rng = self.rng
        accepted = [q for q in quotes if q.status == "accepted"]
        statuses = list(INVOICE_STATUSES)
        rng.shuffle(statuses)
        invoices = []
        for number, status in enumerate(statuses, 1):
            quote = accepted[number - 1] if number <= len(accepted) else None
            issued = self.now - rng.randint(1, 120) * DAY
            due = issued + 30 * DAY
            if status == "overdue":
                issued, due = self.now - 50 * DAY, self.now - 20 * DAY
            invoices.append(
                Invoice(
                    user_id=self.user.id,
                    contact_id=quote.contact_id if quote else rng.choice(contacts).id,
                    quote_id=quote.id if quote else None,
                    number=f"F-{issued.year}-{number:03d}",
                    amount_cents=quote.amount_cents if quote else rng.randint(4, 120) * 5_000,
                    status=status,
                    issued_on=issued,
                    due_on=due,
                    paid_at=issued + rng.randint(2, 25) * DAY if status == "paid" else None,
                )
            )
        await self._add(invoices)

    async def _sessions(self, contacts: list[Contact]) -> None:
        rng = self.rng
        sessions: list[Session] = []
        for rule, weekday, at, minutes in SERIES:
            today = self.now.astimezone(self.zone).date()
            # The series began two weeks ago on its weekday, so some of it is past.
            days = (weekday - today.weekday()) % 7 - 14
            starts = self._local(days, at)
            contact = rng.choice(contacts)
            title = f"Weekly coaching: {contact.first_name}"
            sessions.append(self._session(title, starts, minutes, rrule=rule))
        for index in range(8):
            days = rng.randint(-30, 30)
            starts = self._local(days, dt.time(rng.randint(8, 17), rng.choice((0, 30))))
            title = f"{rng.choice(SESSION_TITLES)} with {rng.choice(contacts).first_name}"
            session = self._session(title, starts, rng.choice((45, 60, 90)))
            session.status = "cancelled" if index == 0 else "scheduled"
            sessions.append(session)
        await self._add(sessions)

    def _session(
        self, title: str, starts: dt.datetime, minutes: int, rrule: str | None = None
    ) -> Session:
        return Session(
            user_id=self.user.id,
            title=title,
            description=f"{title}. Bring last session's notes.",
            location=self.rng.choice(LOCATIONS),
            starts_at=starts,
            ends_at=starts + dt.timedelta(minutes=minutes),
            rrule=rrule,
        )

    async def _emails(self, contacts: list[Contact]) -> None:
        rng = self.rng
        plan = (  # minutes from now, status
            (2, "pending"),
            (4, "pending"),
            (3 * 24 * 60, "pending"),
            (-2 * 24 * 60, "sent"),
            (6 * 24 * 60, "cancelled"),
        )
        emails: list[ScheduledEmail] = []
        for minutes, status in plan:
            contact = rng.choice(contacts)
            send_at = self.now + dt.timedelta(minutes=minutes)
            emails.append(
                ScheduledEmail(
                    user_id=self.user.id,
                    to_address=contact.email,
                    subject=f"Our next session, {contact.first_name}",
                    body=f"Hello {contact.first_name},\n\nA reminder of our next session."
                    f"\n\n{self.user.name}",
                    send_at=send_at,
                    status=status,
                    sent_at=send_at if status == "sent" else None,
                    message_id=f"<demo-{self.user.id}-{minutes}@demo.example>"
                    if status == "sent"
                    else None,
                    attempts=1 if status == "sent" else 0,
                )
            )
        await self._add(emails)

    async def _workflow(self, contacts: list[Contact], quotes: list[Quote]) -> None:
        """Reminder -> follow-up task -> quote status change, each waiting for the
        one before."""
        contact = self.rng.choice(contacts)
        draft = next(q for q in quotes if q.status == "draft")
        remind = WorkflowTask(
            user_id=self.user.id,
            kind="send_reminder",
            title=f"Remind {contact.first_name} of the proposal",
            params={
                "to": contact.email,
                "subject": f"Proposal {draft.number}",
                "body": f"Hello {contact.first_name}, have you had a look at the proposal?",
            },
            due_at=self.now + dt.timedelta(minutes=10),
        )
        follow_up = WorkflowTask(
            user_id=self.user.id,
            kind="create_follow_up",
            title=f"Call {contact.first_name} about {draft.number}",
            params={
                "title": f"Call {contact.first_name}",
                "dueInDays": 3,
                "kind": "send_reminder",
                "params": {
                    "to": self.user.email,
                    "subject": f"Call {contact.first_name} about {draft.number}",
                    "body": f"{contact.first_name} {contact.last_name}: {contact.phone}",
                },
            },
        )
        mark_sent = WorkflowTask(
            user_id=self.user.id,
            kind="set_status",
            title=f"Mark {draft.number} as sent",
            params={"entity": "quote", "id": draft.id, "status": "sent"},
        )
        await self._add([remind, follow_up, mark_sent])
        await self._add(
            [
                TaskDependency(task_id=follow_up.id, depends_on_id=remind.id),
                TaskDependency(task_id=mark_sent.id, depends_on_id=follow_up.id),
            ]
        )

    async def _audit(self, contacts: list[Contact], quotes: list[Quote]) -> None:
        rng = self.rng
        entries: list[AuditEntry] = []
        for days_ago in (120, 95, 70, 45, 35, 12, 3, 1):
            action, target = rng.choice(
                (
                    ("contact.created", f"contacts/{rng.choice(contacts).id}"),
                    ("quote.sent", f"quotes/{rng.choice(quotes).id}"),
                    ("export.requested", "exports"),
                    ("session.scheduled", "sessions"),
                )
            )
            entries.append(
                AuditEntry(
                    at=self.now - days_ago * DAY - rng.randint(0, 600) * dt.timedelta(minutes=1),
                    actor=self.user.id,
                    action=action,
                    target=target,
                    detail={"demo": True},
                )
            )
        await self._add(entries)
