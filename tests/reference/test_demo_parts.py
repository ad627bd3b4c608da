"""The pieces ``workhorse demo`` and ``workhorse serve`` add around the reference
processors: the mail sink, the in-process scheduler, and the schedules installed
when the API starts."""

from __future__ import annotations

import asyncio
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.api.conftest import SECRET
from workhorse import JobState, Queue
from workhorse.app.queues import default_registry
from workhorse.app.service import QueueService
from workhorse.app.settings import Settings
from workhorse.schedule import Schedule, list_schedules, upsert_schedule
from workhorse.store.base import Store
from workhorse_reference.app import ReferenceApp, from_env
from workhorse_reference.demo import InProcessScheduler, MailSink
from workhorse_reference.mail.sender import Mailer
from workhorse_reference.schedules import AUDIT_CLEANUP_KEY, DUE_EMAILS_KEY, RECURRING_SESSIONS_KEY


async def test_the_mail_sink_keeps_each_message_as_a_file(store: Store, tmp_path: Path) -> None:
    sink = MailSink(tmp_path / "mail")
    service = QueueService(store, default_registry())
    await sink.start(service)
    try:
        mailer = Mailer(sink.settings())
        message = mailer.message(
            to="alice@example.test", subject="Hello", body="See you", kind="test", key="k1"
        )
        await mailer.send(message)
    finally:
        await sink.close()
    (saved,) = (tmp_path / "mail").glob("*.eml")
    read = BytesParser(policy=policy.default).parsebytes(saved.read_bytes())
    assert read["Subject"] == "Hello"
    assert read["To"] == "alice@example.test"
    assert read["Message-ID"] == message["Message-ID"]


async def test_the_in_process_scheduler_enqueues_due_ticks(store: Store) -> None:
    service = QueueService(store, default_registry())
    await upsert_schedule(store, Schedule("tick", "ticks", "tick", {}, every=1))
    scheduler = InProcessScheduler(poll=0.05)
    await scheduler.start(service)
    ticks = Queue("ticks", store)
    try:
        async with asyncio.timeout(10):
            while not await ticks.list_jobs(JobState.WAITING):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await scheduler.close()
    (job,) = await ticks.list_jobs(JobState.WAITING)
    assert job.id.startswith("sched:tick:")


async def test_the_api_start_installs_the_reference_schedules(store: Store, tmp_path: Path) -> None:
    settings = Settings(secret_key=SECRET, db_path=str(tmp_path / "wh.db"), environment="test")
    reference = ReferenceApp(settings, db_url=f"sqlite:///{tmp_path / 'reference.db'}")
    service = QueueService(store, default_registry())
    await reference.start(service)
    try:
        keys = {s.key: s for s in await list_schedules(store)}
    finally:
        await reference.close()
    assert set(keys) == {DUE_EMAILS_KEY, RECURRING_SESSIONS_KEY, AUDIT_CLEANUP_KEY}
    assert keys[DUE_EMAILS_KEY].cron == "*/5 * * * *"


def test_download_links_default_to_the_servers_own_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(secret_key=SECRET, db_path=str(tmp_path / "wh.db"), environment="test")
    monkeypatch.delenv("WORKHORSE_EXPORTS_BASE_URL", raising=False)
    assert from_env(settings, {}, base_url="http://127.0.0.1:8123").artifacts.base_url == (
        "http://127.0.0.1:8123"
    )
    monkeypatch.setenv("WORKHORSE_EXPORTS_BASE_URL", "https://jobs.example.com/")
    assert from_env(settings, {}, base_url="http://127.0.0.1:8123").artifacts.base_url == (
        "https://jobs.example.com"
    )
