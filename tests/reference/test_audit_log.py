"""The SQL audit log, and the recorder writing job lifecycle events into it while
real workers run real jobs (every store; the domain database on SQLite)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.api.conftest import serve
from tests.api.test_live import Client
from workhorse import JobFailed, Worker
from workhorse.app import QueueService
from workhorse.app.audit import AuditEntry as Action
from workhorse.app.processor import Processor
from workhorse.app.queues import default_registry
from workhorse.app.registry import QueueRegistry
from workhorse.store.base import Store
from workhorse_reference import audit, recurring
from workhorse_reference.audit import (
    AuditCleanupProcessor,
    JobAuditRecorder,
    SqlAuditLog,
)
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import AuditEntry
from workhorse_reference.recurring import RecurringSessionsProcessor


async def test_records_and_lists_newest_first(db: Database) -> None:
    log = SqlAuditLog(db)
    base = dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp()
    for i, action in enumerate(["queue.pause", "job.retry", "dead.redrive"]):
        await log.record(
            Action("admin", action, f"exports/{i}", {"n": i, "why": "test"}, at=base + i * 60.5)
        )

    latest = await log.recent(2)

    assert [e.action for e in latest] == ["dead.redrive", "job.retry"]
    detail = {"n": 2, "why": "test"}
    assert latest[0] == Action("admin", "dead.redrive", "exports/2", detail, base + 121)
    assert [e.action for e in await log.recent()] == ["dead.redrive", "job.retry", "queue.pause"]
    with pytest.raises(ValueError, match="limit must be >= 0"):
        await log.recent(-1)


async def test_an_over_long_target_is_clipped_not_refused(db: Database) -> None:
    log = SqlAuditLog(db)
    await log.record(Action("admin", "job.remove", "exports/" + "x" * 600))
    (entry,) = await log.recent()
    assert len(entry.target) == 500
    assert entry.target.startswith("exports/xxx") and entry.target.endswith("…")


# ---- the job lifecycle recorder ---------------------------------------------------


def reference_registry() -> QueueRegistry:
    """The default registry with this package's payload models (the lead's to add)."""
    reg = default_registry()
    for queue, payloads in ((audit.QUEUE, audit.PAYLOADS), (recurring.QUEUE, recurring.PAYLOADS)):
        reg = reg.with_queue(queue, dataclasses.replace(reg[queue], payloads=payloads))
    return reg


async def run_workers(
    service: QueueService, factories: list[Callable[[QueueService], Processor[Any]]]
) -> list[tuple[Worker, asyncio.Task[None]]]:
    running = []
    for factory in factories:
        processor = factory(service)
        worker = Worker(service.queue(processor.queue), processor.handle)
        running.append((worker, asyncio.create_task(worker.run())))
    return running


async def entries_until(db: Database, count: int) -> list[AuditEntry]:
    """The audit entries once there are ``count`` (the recorder writes them shortly
    after the events; no timing is asserted, the test's timeout bounds the wait)."""
    while True:
        async with db.session() as s:
            rows = list((await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.02)


async def test_recorder_writes_completed_failed_and_dead_lettered_jobs(
    store: Store, sqlite_db: Database
) -> None:
    service = QueueService(store, reference_registry())
    recorder = JobAuditRecorder(sqlite_db, queues=[audit.QUEUE, recurring.QUEUE])
    await recorder.start(service)
    workers = await run_workers(
        service,
        [
            partial(AuditCleanupProcessor, db=sqlite_db),
            partial(RecurringSessionsProcessor, db=sqlite_db),
        ],
    )
    try:
        ok = await service.add(audit.QUEUE, "cleanup", {"daysToKeep": 30}, owner="admin")
        bad = await service.add(recurring.QUEUE, "generate", {"userId": "ghost"}, owner="alice")
        assert await ok.result(timeout=20) == {"deleted": 0}
        with pytest.raises(JobFailed, match="no user 'ghost'"):
            await bad.result(timeout=20)
        rows = await entries_until(sqlite_db, 3)
    finally:
        await recorder.close()
        for worker, task in workers:
            await worker.close(grace=1)
            await task
        await service.close()

    by_action = {r.action: r for r in rows}
    assert sorted(by_action) == ["job.completed", "job.deadlettered", "job.failed"]
    assert len(rows) == 3
    done = by_action["job.completed"]
    assert (done.actor, done.target) == ("system", f"audit-cleanup/{ok.id}")
    assert (done.detail["owner"], done.detail["name"]) == ("admin", "cleanup")
    for action in ("job.failed", "job.deadlettered"):
        row = by_action[action]
        assert (row.actor, row.target) == ("system", f"recurring-sessions/{bad.id}")
        assert row.detail["owner"] == "alice"
        assert "userId: no user 'ghost'" in row.detail["error"]


async def test_a_restarted_recorder_records_what_happened_while_it_was_down(
    store: Store, sqlite_db: Database
) -> None:
    service = QueueService(store, reference_registry())
    first = JobAuditRecorder(sqlite_db, queues=[audit.QUEUE])
    await first.start(service)
    ((worker, task),) = await run_workers(service, [partial(AuditCleanupProcessor, db=sqlite_db)])
    try:
        before = await service.add(audit.QUEUE, "cleanup", {})
        await before.result(timeout=20)
        await entries_until(sqlite_db, 1)
        await first.close()

        missed = await service.add(audit.QUEUE, "cleanup", {"daysToKeep": 2})
        await missed.result(timeout=20)
        second = JobAuditRecorder(sqlite_db, queues=[audit.QUEUE])
        await second.start(service)
        await entries_until(sqlite_db, 2)
        await second.close()
        rows = await entries_until(sqlite_db, 0)  # all of them, once it has stopped
    finally:
        await worker.close(grace=1)
        await task
        await service.close()

    assert [(r.action, r.target) for r in rows] == [
        ("job.completed", f"audit-cleanup/{before.id}"),
        ("job.completed", f"audit-cleanup/{missed.id}"),
    ]


async def test_recorder_runs_as_an_api_extension(
    store: Store, sqlite_db: Database, tmp_path: Path
) -> None:
    recorder = JobAuditRecorder(sqlite_db)  # every queue of the registry
    processor = partial(AuditCleanupProcessor, db=sqlite_db)
    api = serve(store, tmp_path, [processor], extensions=[recorder], registry=reference_registry())
    async for running in api:
        client = Client(running)
        await client.connect(running.tokens["admin"])
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            r = await http.post(
                f"/api/queues/{audit.QUEUE}/jobs",
                json={"name": "cleanup", "data": {}},
                headers=running.headers("admin"),
            )
        job_id = r.json()["jobId"]
        await client.until(job_id, "completed")
        await client.sio.disconnect()
        (row,) = await entries_until(sqlite_db, 1)
        assert (row.action, row.target, row.detail["owner"]) == (
            "job.completed",
            f"audit-cleanup/{job_id}",
            "admin",
        )
