"""The reference application's cron schedules, installed on every store."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from tests.clocks import FakeClock
from tests.reference.test_audit_log import reference_registry
from workhorse.app import QueueService
from workhorse.app.errors import PayloadInvalid
from workhorse.app.registry import QueueRegistry
from workhorse.schedule import Scheduler, list_schedules
from workhorse.store.base import Store
from workhorse_reference import emails
from workhorse_reference.audit import QUEUE as AUDIT
from workhorse_reference.audit import AuditCleanupPayload
from workhorse_reference.schedules import (
    AUDIT_CLEANUP_KEY,
    DUE_EMAILS_KEY,
    RECURRING_SESSIONS_KEY,
    install_schedules,
)

EXPECTED = {
    DUE_EMAILS_KEY: ("scheduled-emails", "enqueue-due", {}, "*/5 * * * *"),
    RECURRING_SESSIONS_KEY: ("recurring-sessions", "generate", {}, "0 2 * * *"),
    AUDIT_CLEANUP_KEY: ("audit-cleanup", "cleanup", {"daysToKeep": 30}, "30 3 * * *"),
}


@pytest.fixture
async def clocked(
    make_store: Callable[..., Store], store: Store
) -> AsyncIterator[tuple[QueueService, FakeClock]]:
    # ``store`` (unused) deletes the test's Redis keys at the end.
    clock = FakeClock()
    own = make_store(clock=clock)
    service = QueueService(own, with_email_payloads())
    yield service, clock
    await service.close()
    await own.close()


def with_email_payloads() -> QueueRegistry:
    """The test registry with the e-mail queue's models too, so every schedule's data
    is checked against its job's model."""
    registry = reference_registry()
    config = dataclasses.replace(registry[emails.QUEUE], payloads=emails.PAYLOADS)
    return registry.with_queue(emails.QUEUE, config)


async def test_install_twice_leaves_one_schedule_each(store: Store) -> None:
    service = QueueService(store, with_email_payloads())

    assert await install_schedules(service) == dict.fromkeys(EXPECTED, True)
    assert await install_schedules(service) == dict.fromkeys(EXPECTED, False)

    schedules = {s.key: s for s in await list_schedules(store)}
    assert set(schedules) == set(EXPECTED)
    for key, (queue, name, data, cron) in EXPECTED.items():
        info = schedules[key]
        assert (info.queue, info.name, info.data, info.cron, info.tz) == (
            queue,
            name,
            data,
            cron,
            "UTC",
        )
        assert info.every is None
    nightly, daily, often = (
        datetime.fromtimestamp((schedules[key].next_at or 0) / 1000, UTC)
        for key in (RECURRING_SESSIONS_KEY, AUDIT_CLEANUP_KEY, DUE_EMAILS_KEY)
    )
    assert (nightly.hour, nightly.minute, daily.hour, daily.minute) == (2, 0, 3, 30)
    assert often.minute % 5 == 0 and often.second == 0


async def test_a_tick_enqueues_each_job_with_its_queue_defaults(
    clocked: tuple[QueueService, FakeClock],
) -> None:
    service, clock = clocked
    await install_schedules(service)
    scheduler = Scheduler(service.store)
    assert await scheduler.run_once() == 0  # nothing due yet

    clock.advance(24 * 3600 + 60)  # past every schedule's next tick
    assert await scheduler.run_once() == 3
    assert await scheduler.run_once() == 0

    for key, (queue, name, data, _) in EXPECTED.items():
        (job,) = await service.find_jobs(None, queues=[queue])
        config = service.registry[queue]
        assert (job.name, job.data) == (name, data)
        assert job.id.startswith(f"sched:{key}:")
        assert (job.attempts, job.timeout) == (config.attempts, config.timeout)


async def test_a_schedule_its_queue_would_refuse_installs_nothing(store: Store) -> None:
    registry = reference_registry()
    renamed = dataclasses.replace(registry[AUDIT], payloads={"purge": AuditCleanupPayload})
    service = QueueService(store, registry.with_queue(AUDIT, renamed))

    with pytest.raises(PayloadInvalid, match="audit-cleanup/cleanup: name: unknown job"):
        await install_schedules(service)
    assert await list_schedules(store) == []
