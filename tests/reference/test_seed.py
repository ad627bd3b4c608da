"""The demo data: per-user rows, idempotent, deterministic, usable by the jobs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from workhorse_reference.audit import delete_older_than
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
from workhorse_reference.recurring import generate
from workhorse_reference.seed import seed_demo
from workhorse_reference.workflow.params import parse_params

UTC = dt.UTC
NOW = dt.datetime(2030, 5, 14, 10, 0, tzinfo=UTC)
PER_USER = (Contact, Quote, Invoice, Session, ScheduledEmail, WorkflowTask)


async def count(db: Database, model: type[Base], *where: Any) -> int:
    async with db.session() as s:
        table = model.__table__
        return int(await s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def all_counts(db: Database) -> dict[str, int]:
    models = (*PER_USER, User, AuditEntry, TaskDependency)
    return {m.__tablename__: await count(db, m) for m in models}


async def test_each_user_gets_a_realistic_set_of_rows(db: Database) -> None:
    result = await seed_demo(db, now=NOW)

    assert result["created"] == ["alice", "bob"] and result["skipped"] == []
    for user in ("alice", "bob"):
        rows = result["rows"][user]
        for model in PER_USER:
            assert rows[model.__tablename__] == await count(db, model, model.user_id == user)
        assert 20 <= rows["contacts"] <= 40
        assert rows["quotes"] == rows["invoices"] == 15
        assert rows["sessions"] == 10
        assert rows["scheduled_emails"] >= 3 and rows["workflow_tasks"] >= 2
        assert await count(db, Session, Session.user_id == user, Session.rrule.is_not(None)) == 2
        for model in (Quote, Invoice):
            async with db.session() as s:
                query = select(model.status).where(model.user_id == user).distinct()
                assert len((await s.scalars(query)).all()) >= 4
        old = AuditEntry.at < NOW - dt.timedelta(days=30)
        assert await count(db, AuditEntry, AuditEntry.actor == user, old) >= 2
        assert await count(db, AuditEntry, AuditEntry.actor == user, ~old) >= 1


async def test_series_emails_and_workflow_are_usable(db: Database) -> None:
    await seed_demo(db, now=NOW)
    async with db.session() as s:
        users = {u.id: u for u in (await s.scalars(select(User))).all()}
        series = (await s.scalars(select(Session).where(Session.rrule.is_not(None)))).all()
        emails = (await s.scalars(select(ScheduledEmail))).all()
        deps = (await s.scalars(select(TaskDependency))).all()
        tasks = {t.id: t for t in (await s.scalars(select(WorkflowTask))).all()}

    days = {"TU": 1, "TH": 3}
    for one in series:
        local = one.starts_at.astimezone(ZoneInfo(users[one.user_id].timezone))
        assert one.rrule is not None and one.rrule.startswith("FREQ=WEEKLY;BYDAY=")
        assert local.weekday() == days[one.rrule.split("BYDAY=")[1][:2]]
        assert local.minute == 0 and 8 <= local.hour <= 18
    for user in ("alice", "bob"):
        soon = [
            e
            for e in emails
            if e.user_id == user
            and e.status == "pending"
            and NOW <= e.send_at <= NOW + dt.timedelta(minutes=10)
        ]
        assert len(soon) >= 2
        own_deps = [d for d in deps if tasks[d.task_id].user_id == user]
        assert own_deps and all(tasks[d.depends_on_id].user_id == user for d in own_deps)
    for task in tasks.values():  # what the workflow processor will check before running
        parse_params(task.id, task.kind, task.params)

    generated = await generate(db, now=NOW)
    assert generated.series == 4 and generated.errors == [] and generated.created > 0
    old = await count(db, AuditEntry, AuditEntry.at < NOW - dt.timedelta(days=30))
    assert old > 0
    assert await delete_older_than(db, NOW - dt.timedelta(days=30)) == old


async def test_users_have_different_rows(db: Database) -> None:
    await seed_demo(db, now=NOW)
    async with db.session() as s:
        contacts = (await s.scalars(select(Contact))).all()
    alice = [(c.first_name, c.last_name, c.email) for c in contacts if c.user_id == "alice"]
    bob = [(c.first_name, c.last_name, c.email) for c in contacts if c.user_id == "bob"]
    assert alice and bob and alice != bob


async def test_running_it_again_adds_nothing(db: Database) -> None:
    await seed_demo(db, now=NOW)
    before = await all_counts(db)

    again = await seed_demo(db, now=NOW + dt.timedelta(days=1))

    assert again == {"created": [], "skipped": ["alice", "bob"], "rows": {}}
    assert await all_counts(db) == before


async def test_same_now_same_rows(db: Database, tmp_path: Path) -> None:
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    await other.create()
    try:
        snapshots = []
        for database in (db, other):
            await seed_demo(database, now=NOW)
            async with database.session() as s:
                quotes = (
                    await s.scalars(select(Quote).order_by(Quote.user_id, Quote.number))
                ).all()
                sessions = (
                    await s.scalars(
                        select(Session).order_by(Session.starts_at, Session.user_id, Session.title)
                    )
                ).all()
            snapshots.append(
                (
                    [(q.user_id, q.number, q.title, q.amount_cents, q.status) for q in quotes],
                    [(x.user_id, x.title, x.starts_at, x.rrule, x.status) for x in sessions],
                    await all_counts(database),
                )
            )
    finally:
        await other.close()
    assert snapshots[0] == snapshots[1]
