"""Claiming a scheduled e-mail's row, on SQLite and PostgreSQL: one winner among
concurrent claimants, abandoned claims taken over, and every refusal explained."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from workhorse.errors import UnrecoverableError
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import ScheduledEmail, User
from workhorse_reference.domain.types import utcnow
from workhorse_reference.emails.claim import (
    AlreadySent,
    Claimed,
    ClaimHeld,
    NotDue,
    claim,
    mark_failed,
    mark_sent,
    release,
)


async def add_email(db: Database, **fields: object) -> str:
    values: dict[str, object] = {
        "user_id": "alice",
        "to_address": "client@example.test",
        "subject": "Reminder",
        "body": "See you on Thursday.",
        "send_at": utcnow() - dt.timedelta(minutes=1),
        **fields,
    }
    async with db.session() as s:
        if await s.get(User, "alice") is None:
            s.add(User(id="alice", email="alice@example.test", name="Alice"))
            s.add(User(id="bob", email="bob@example.test", name="Bob"))
            await s.flush()
        row = ScheduledEmail(**values)
        s.add(row)
        await s.flush()
        return row.id


async def row(db: Database, email_id: str) -> ScheduledEmail:
    async with db.session() as s:
        got = await s.get(ScheduledEmail, email_id)
    assert got is not None
    return got


async def test_one_of_many_concurrent_claims_wins(db: Database) -> None:
    email_id = await add_email(db)
    outcomes = await asyncio.gather(
        *(claim(db, email_id, "alice") for _ in range(8)), return_exceptions=True
    )
    winners = [o for o in outcomes if isinstance(o, Claimed)]
    assert len(winners) == 1
    assert all(isinstance(o, ClaimHeld) for o in outcomes if o is not winners[0])
    stored = await row(db, email_id)
    assert stored.status == "sending"
    assert stored.claim_token == winners[0].token
    assert stored.attempts == 1
    assert winners[0].to == "client@example.test"
    assert winners[0].body == "See you on Thursday."


async def test_a_claim_older_than_the_ttl_is_taken_over(db: Database) -> None:
    email_id = await add_email(db)
    first = await claim(db, email_id, "alice")
    assert isinstance(first, Claimed)
    with pytest.raises(ClaimHeld, match="being sent by another attempt"):
        await claim(db, email_id, "alice", ttl=60)
    later = utcnow() + dt.timedelta(seconds=61)
    second = await claim(db, email_id, "alice", ttl=60, now=later)
    assert isinstance(second, Claimed)
    assert second.token != first.token
    # The first attempt's claim is gone: it can no longer record anything.
    assert await mark_sent(db, email_id, first.token, "<x@y>") is False
    assert await mark_sent(db, email_id, second.token, "<x@y>") is True
    stored = await row(db, email_id)
    assert (stored.status, stored.message_id, stored.attempts) == ("sent", "<x@y>", 2)
    assert stored.sent_at is not None


async def test_sent_not_due_and_released_rows(db: Database) -> None:
    email_id = await add_email(db)
    got = await claim(db, email_id, "alice")
    assert isinstance(got, Claimed)
    assert await release(db, email_id, got.token, "451 later") is True
    released = await row(db, email_id)
    assert (released.status, released.claim_token, released.last_error) == (
        "pending",
        None,
        "451 later",
    )
    again = await claim(db, email_id, "alice")
    assert isinstance(again, Claimed)
    await mark_sent(db, email_id, again.token, "<id@x>")
    done = await claim(db, email_id, "alice")
    assert isinstance(done, AlreadySent)
    assert done.message_id == "<id@x>"

    send_at = utcnow() + dt.timedelta(hours=1)
    future = await add_email(db, send_at=send_at)
    early = await claim(db, future, "alice")
    assert isinstance(early, NotDue)
    assert early.send_at == send_at
    assert (await row(db, future)).status == "pending"


async def test_refusals_are_unrecoverable_and_name_the_email(db: Database) -> None:
    email_id = await add_email(db)
    with pytest.raises(UnrecoverableError, match=f"{email_id}' of user 'bob' not found"):
        await claim(db, email_id, "bob")
    with pytest.raises(UnrecoverableError, match="'nope' of user 'alice' not found"):
        await claim(db, "nope", "alice")
    cancelled = await add_email(db, status="cancelled")
    with pytest.raises(UnrecoverableError, match="is cancelled"):
        await claim(db, cancelled, "alice")
    got = await claim(db, email_id, "alice")
    assert isinstance(got, Claimed)
    assert await mark_failed(db, email_id, got.token, "550 no such user") is True
    with pytest.raises(UnrecoverableError, match="is failed: 550 no such user"):
        await claim(db, email_id, "alice")
    assert (await row(db, email_id)).status == "failed"
