"""The processor base class with a real worker: payload re-validation, step progress,
structured logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from workhorse import JobFailed, Worker
from workhorse.app import QueueService, default_registry
from workhorse.app.payloads import ExportPayload
from workhorse.app.processor import Processor, Steps
from workhorse.app.queues import EXPORT_JOB, EXPORTS
from workhorse.job import Job
from workhorse.store.base import Store

EXPORT = {"entity": "quotes", "format": "pdf", "userId": "alice"}


class StepsProcessor(Processor[ExportPayload]):
    queue = EXPORTS

    async def process(self, job: Job, payload: ExportPayload) -> Any:
        steps = self.steps(job, ["query", "write", "store"])
        await steps.start("query")
        await steps.start("write")
        await steps.update(50, "half written")
        await steps.finish("done")
        return {"entity": payload.entity, "user": payload.user_id}


class BrokenProcessor(Processor[ExportPayload]):
    queue = EXPORTS

    async def process(self, job: Job, payload: ExportPayload) -> Any:
        raise RuntimeError("disk full")


@pytest.fixture
async def service(store: Store) -> AsyncIterator[QueueService]:
    svc = QueueService(store, default_registry().for_environment("development"))
    yield svc
    await svc.close()


async def _run(service: QueueService, processor: Processor[Any], job: Job) -> Any:
    worker = Worker(service.queue(EXPORTS), processor.handle)
    runner = asyncio.create_task(worker.run(burst=True))
    try:
        return await job.result(timeout=20)
    finally:
        await runner


async def test_steps_report_structured_progress_and_logs(
    service: QueueService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workhorse.processor")
    queue = service.queue(EXPORTS)
    seen: list[Any] = []
    done = asyncio.Event()

    async def watch() -> None:
        async for event in queue.follow("0"):
            if event.event == "progress":
                import orjson

                seen.append(orjson.loads(event.fields["data"]))
            if event.event == "completed":
                done.set()
                return

    watcher = asyncio.create_task(watch())
    job = await service.add(EXPORTS, EXPORT_JOB, EXPORT, owner="alice")
    assert await _run(service, StepsProcessor(service), job) == {
        "entity": "quotes",
        "user": "alice",
    }
    await asyncio.wait_for(done.wait(), 10)
    await watcher
    assert seen[0] == {
        "currentStep": "query",
        "totalSteps": 3,
        "stepProgress": 0.0,
        "overallProgress": 0.0,
    }
    assert seen[2] == {
        "currentStep": "write",
        "totalSteps": 3,
        "stepProgress": 50,
        "overallProgress": 50.0,
        "message": "half written",
    }
    assert seen[-1]["overallProgress"] == 100.0
    records = [r for r in caplog.records if r.name == "workhorse.processor"]
    events = [r.job_event for r in records]
    assert events[0] == "started"
    assert events[-1] == "completed"
    assert {r.user_id for r in records} == {"alice"}
    assert {r.job_id for r in records} == {job.id}


async def test_failure_is_logged_with_job_and_user(
    service: QueueService, caplog: pytest.LogCaptureFixture
) -> None:
    job = await service.add(EXPORTS, EXPORT_JOB, EXPORT, owner="alice")
    with pytest.raises(JobFailed, match="disk full"):
        await _run(service, BrokenProcessor(service), job)
    failed = [r for r in caplog.records if getattr(r, "job_event", None) == "failed"]
    assert failed
    assert failed[0].levelno == logging.WARNING
    assert "disk full" in failed[0].getMessage()
    assert failed[0].user_id == "alice"


async def test_payload_invalid_at_dequeue_fails_without_retry(store: Store) -> None:
    service = QueueService(store, default_registry())  # exports: 3 attempts
    try:
        raw = await service.queue(EXPORTS).add(EXPORT_JOB, {"entity": "planets"})
        with pytest.raises(JobFailed, match=r"data\.entity"):
            await _run(service, StepsProcessor(service), raw)
        stored = await service.get_job(EXPORTS, raw.id)
        assert stored.attempts_made == 1
    finally:
        await service.close()


def test_steps_refuse_unknown_steps_and_bad_percentages() -> None:
    job = Job(queue_name="q", id="1", name="n", data=None)
    steps = Steps(job, ["a", "b"])
    assert steps.progress(25, None)["overallProgress"] == 12.5
    with pytest.raises(ValueError, match="unknown step 'c'"):
        asyncio.run(steps.start("c"))
    with pytest.raises(ValueError, match="step_progress"):
        asyncio.run(steps.update(150))
    with pytest.raises(ValueError, match="at least one step"):
        Steps(job, [])
