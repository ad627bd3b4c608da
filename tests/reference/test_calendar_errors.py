"""How the google-calendar-sync job deals with Google's answers: access tokens
reused, refreshed when expired or refused; revoked credentials, forbidden requests
and missing calendars fail at once; rate limits, quotas and outages are retried by a
real worker (on Redis and on the embedded store) and then succeed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from tests.reference.calendar_server import CalendarServer
from tests.reference.calendar_world import ALICE, World, at, make_world
from workhorse import Worker
from workhorse.clock import now_ms
from workhorse.job import Job, JobState
from workhorse.store.base import Store
from workhorse.store.sqlite import SqliteStore
from workhorse_reference.calendar import JOB, QUEUE, CalendarSettings, CalendarSyncProcessor
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import CalendarLink

UTC = dt.UTC


async def set_link(world: World, **values: Any) -> None:
    async with world.db.session() as s:
        await s.execute(
            update(CalendarLink).where(CalendarLink.user_id == "alice").values(**values)
        )


def token_calls(google: CalendarServer) -> list[dict[str, Any]]:
    return [r.body for r in google.requests if r.path == "/token"]


def bearer(google: CalendarServer) -> list[str]:
    """The access token of every Calendar API call, in order."""
    return [r.headers["authorization"].removeprefix("Bearer ") for r in google.calls("GET")]


# ---- access tokens ------------------------------------------------------------------
async def test_a_stored_valid_access_token_is_used_without_refreshing(world: World) -> None:
    await world.synced()
    assert len(token_calls(world.google)) == 1  # the link had no access token yet
    stored = (await world.link()).access_token
    job = await world.sync()
    assert job.state is JobState.COMPLETED
    assert len(token_calls(world.google)) == 1
    assert bearer(world.google)[-1] == stored


async def test_an_expired_access_token_is_refreshed_and_stored(world: World) -> None:
    await world.synced()
    old = (await world.link()).access_token
    await set_link(world, access_expires_at=dt.datetime.now(UTC) - dt.timedelta(seconds=1))

    await world.synced()
    calls = token_calls(world.google)
    assert len(calls) == 2
    assert calls[-1]["grant_type"] == "refresh_token"
    assert calls[-1]["refresh_token"] == world.refresh_token
    assert calls[-1]["client_id"] == world.settings.client_id
    link = await world.link()
    assert link.access_token not in (None, old)
    assert link.access_expires_at is not None
    assert link.access_expires_at > dt.datetime.now(UTC) + dt.timedelta(minutes=30)
    assert bearer(world.google)[-1] == link.access_token


async def test_a_refused_access_token_is_refreshed_once_and_the_call_repeated(
    world: World,
) -> None:
    await world.synced()
    old = (await world.link()).access_token
    world.google.expire_access_tokens()  # still valid by its expiry, refused by Google
    lists_before = len(world.google.calls("GET"))

    job = await world.sync()
    assert job.state is JobState.COMPLETED, job.failed_reason
    assert job.attempts_made == 1  # no retry: the call itself was repeated
    assert len(token_calls(world.google)) == 2
    fresh = (await world.link()).access_token
    assert bearer(world.google)[lists_before:] == [old, fresh]


# ---- failing without retry ----------------------------------------------------------
@pytest.mark.parametrize("when", ["before any sync", "with a valid access token"])
async def test_revoked_credentials_fail_without_retry_and_are_reported(
    world: World, when: str
) -> None:
    if when == "with a valid access token":
        await world.synced()
    world.google.revoke(world.refresh_token)
    api_calls = len(world.google.calls("GET"))

    job = await world.sync(attempts=5)
    assert job.state is JobState.FAILED
    assert job.attempts_made == 1
    assert "invalid_grant" in (job.failed_reason or "")
    assert "connect their Google Calendar again" in (job.failed_reason or "")
    link = await world.link()
    assert link.revoked_at is not None
    assert link.last_error == job.failed_reason
    assert link.access_token is None
    # Revoked with a still-valid access token: Google refuses it (401), the refresh
    # then answers invalid_grant -- one API call at most.
    assert len(world.google.calls("GET")) - api_calls == (0 if when == "before any sync" else 1)

    tokens = len(token_calls(world.google))
    again = await world.sync(attempts=5)
    assert again.state is JobState.FAILED
    assert again.attempts_made == 1
    assert "revoked" in (again.failed_reason or "")
    assert len(token_calls(world.google)) == tokens  # Google is not even asked


async def test_forbidden_fails_without_retry_and_is_kept_on_the_link(world: World) -> None:
    world.google.fail_next(403, "forbidden")
    job = await world.sync(attempts=5)
    assert job.state is JobState.FAILED
    assert job.attempts_made == 1
    assert "403 forbidden" in (job.failed_reason or "")
    assert (await world.link()).last_error == job.failed_reason
    assert (await world.link()).revoked_at is None

    await world.synced()  # the next sync works and clears the error
    assert (await world.link()).last_error is None


async def test_a_missing_calendar_fails_without_retry(world: World) -> None:
    await set_link(world, calendar_id="team@example.test")
    job = await world.sync(attempts=5)
    assert job.state is JobState.FAILED
    assert job.attempts_made == 1
    assert "404 notFound" in (job.failed_reason or "")
    assert "/calendars/team%40example.test/events" in (job.failed_reason or "")


async def test_a_user_may_only_sync_their_own_calendar(world: World) -> None:
    job = await world.sync(owner="bob", attempts=5)
    assert job.state is JobState.FAILED
    assert job.attempts_made == 1
    assert "data.userId" in (job.failed_reason or "")
    assert world.google.requests == []


async def test_a_user_without_a_calendar_link_fails_without_retry(world: World) -> None:
    job = await world.sync(user="carol", attempts=5)
    assert job.state is JobState.FAILED
    assert "'carol' has no Google Calendar link" in (job.failed_reason or "")


async def test_an_event_changed_between_pull_and_push_is_pulled_again(world: World) -> None:
    """Our patch carries the etag we pulled; Google answers 412 when the event
    changed in between, and the retry pulls that change first (and by the conflict
    rule the newer remote edit wins)."""
    google = world.google
    session_id = await world.add_session("Original", at(0))
    await world.synced()
    event_id = (await world.session(session_id)).google_event_id or ""
    await world.edit_session(session_id, title="Edited here")
    google.after_next("GET", lambda: google.edit_event(ALICE, event_id, summary="Edited there"))

    job = await world.sync(attempts=3)
    assert job.state is JobState.COMPLETED, job.failed_reason
    assert job.attempts_made == 2
    history = await world.service.queue(QUEUE).get_history(job.id)
    assert "412 conditionNotMet" in history[0]["error"]
    assert job.returnvalue["pulled"]["updated"] == 1
    assert job.returnvalue["pushed"]["patched"] == 0
    assert (await world.session(session_id)).title == "Edited there"
    assert google.events(ALICE)[event_id]["summary"] == "Edited there"


async def test_an_unreachable_api_is_retried(
    db: Database, google: CalendarServer, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "jobs.db")
    try:
        async for world in make_world(db, google, store, api_url="http://127.0.0.1:9/v3"):
            job = await world.sync(attempts=2)
            assert job.state is JobState.FAILED
            assert job.attempts_made == 2  # retried: not a refusal
            assert "Google Calendar API at http://127.0.0.1:9/v3/" in (job.failed_reason or "")
            assert "did not answer" in (job.failed_reason or "")
    finally:
        await store.close()


def test_a_processor_without_an_oauth_client_is_refused_at_start(world: World) -> None:
    settings = CalendarSettings(client_id="", client_secret=SecretStr(""))
    with pytest.raises(ValueError, match="set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET"):
        CalendarSyncProcessor(world.service, db=world.db, settings=settings)


# ---- retried, then successful (a real worker on each store) ---------------------------
@pytest.fixture
async def on_store(
    sqlite_db: Database, google: CalendarServer, store: Store
) -> AsyncIterator[World]:
    async for w in make_world(sqlite_db, google, store):
        yield w


async def _run_until_retrying(world: World) -> tuple[Job, Worker, asyncio.Task[None]]:
    processor = world.processor
    worker = Worker(
        world.service.queue(QUEUE), processor.handle, retry_policy=processor.retry_policy
    )
    retrying = asyncio.Event()

    async def on_retry(job: Job, error: BaseException) -> None:
        retrying.set()

    worker.on("retrying", on_retry)
    job = await world.service.add(QUEUE, JOB, {"userId": "alice"})
    runner = asyncio.create_task(worker.run(burst=True))
    await asyncio.wait_for(retrying.wait(), 20)
    return job, worker, runner


async def test_429_waits_the_retry_after_google_asked_for(on_store: World) -> None:
    google = on_store.google
    google.add_event(ALICE, "Lunch", at(0), at(1))
    google.fail_next(429, retry_after="120")
    job, _worker, runner = await _run_until_retrying(on_store)

    delayed = await on_store.service.get_job(QUEUE, job.id)
    assert delayed.state is JobState.DELAYED
    assert delayed.due_at is not None
    # 120 s asked for; the job's own backoff would have been 10 ms.
    assert delayed.due_at - now_ms() > 100_000
    await on_store.service.queue(QUEUE).promote(job.id)
    await asyncio.wait_for(runner, 30)

    done = await on_store.service.get_job(QUEUE, job.id)
    assert done.state is JobState.COMPLETED, done.failed_reason
    assert done.returnvalue["pulled"]["created"] == 1
    assert done.attempts_made == 2


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (403, "rateLimitExceeded"),
        (403, "userRateLimitExceeded"),
        (403, "quotaExceeded"),
        (429, "rateLimitExceeded"),
        (503, "backendError"),
    ],
)
async def test_rate_limits_quotas_and_outages_are_retried_with_backoff(
    on_store: World, status: int, reason: str
) -> None:
    google = on_store.google
    google.add_event(ALICE, "Lunch", at(0), at(1))
    google.fail_next(status, reason, times=2)
    job = await on_store.service.add(QUEUE, JOB, {"userId": "alice"})
    processor = on_store.processor
    worker = Worker(
        on_store.service.queue(QUEUE), processor.handle, retry_policy=processor.retry_policy
    )
    await asyncio.wait_for(worker.run(burst=True), 30)

    done = await on_store.service.get_job(QUEUE, job.id)
    assert done.state is JobState.COMPLETED, done.failed_reason
    assert done.attempts_made == 3
    assert done.returnvalue["pulled"]["created"] == 1
    history = await on_store.service.queue(QUEUE).get_history(job.id)
    reasons = [h["error"] for h in history]
    assert reasons == [f"Google Calendar: {status} {reason}: {reason_text(reason)}"] * 2


def reason_text(reason: str) -> str:
    return {
        "rateLimitExceeded": "Rate Limit Exceeded",
        "userRateLimitExceeded": "User Rate Limit Exceeded",
        "quotaExceeded": "Calendar usage limits exceeded.",
        "backendError": "Backend Error",
    }[reason]
