"""The API process's /metrics and alerts, end to end: a real server, jobs run by a
worker on another store object (another process), a real webhook receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, serve
from tests.observability.receiver import Receiver
from tests.observability.test_metrics import parse, promtool, value
from workhorse import Queue, Worker
from workhorse.app.payloads import ExportPayload
from workhorse.app.queues import EXPORT_JOB, EXPORTS, default_registry
from workhorse.app.registry import QueueConfig, QueueRegistry
from workhorse.job import Job
from workhorse.observability.webhooks import verify
from workhorse.store.base import Store

SECRET = "alert-secret-for-the-api-test"
GOOD = {"entity": "quotes", "format": "csv", "userId": "alice"}
BAD = {"entity": "invoices", "format": "csv", "userId": "alice"}


def registry() -> QueueRegistry:
    """The reference queues, with exports failing for good at the first error."""
    once = QueueConfig(attempts=1, backoff=None, payloads={EXPORT_JOB: ExportPayload})
    return default_registry().with_queue(EXPORTS, once)


async def export(job: Job) -> Any:
    if job.data["entity"] == "invoices":
        raise RuntimeError("invoice table locked")
    return {"rows": 2}


@pytest.fixture
async def other(make_store: Callable[..., Store]) -> AsyncIterator[Store]:
    s = make_store()
    yield s
    await s.close()


async def run_exports(api: Api, other: Store, *payloads: dict[str, str]) -> list[Job]:
    jobs = [await api.service.add(EXPORTS, EXPORT_JOB, p, owner="alice") for p in payloads]
    await Worker(Queue(EXPORTS, other), export, stalled_interval=0.2).run(burst=True)
    return jobs


async def scrape_until(
    http: httpx.AsyncClient, ok: Callable[[dict[Any, float]], bool], **kw: Any
) -> dict[Any, float]:
    """/metrics once ``ok`` holds (counters follow the event stream asynchronously)."""
    async with asyncio.timeout(20):
        while True:
            response = await http.get("/metrics", **kw)
            assert response.status_code == 200, response.text
            samples = parse(response.content)
            if ok(samples):
                return samples
            await asyncio.sleep(0.05)


async def test_metrics_endpoint_counts_jobs_run_by_another_process(
    store: Store, other: Store, tmp_path: Path
) -> None:
    async for api in serve(store, tmp_path, registry=registry()):
        await run_exports(api, other, GOOD, GOOD, BAD)
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            s = await scrape_until(
                http,
                lambda s: (
                    value(s, "workhorse_jobs_failed_total", queue=EXPORTS) == 1
                    and value(s, "workhorse_jobs_completed_total", queue=EXPORTS) == 2
                ),
            )
            response = await http.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert promtool(response.content) == ""
        assert value(s, "workhorse_jobs_dead_lettered_total", queue=EXPORTS) == 1
        assert value(s, "workhorse_queue_jobs", queue=EXPORTS, state="completed") == 2
        assert value(s, "workhorse_queue_jobs", queue=EXPORTS, state="failed") == 1
        labelled = {dict(labels).get("queue") for name, labels in s if name == "workhorse_workers"}
        assert labelled == set(registry())


async def test_metrics_token_guards_the_endpoint(store: Store, tmp_path: Path) -> None:
    async for api in serve(store, tmp_path, metrics_token="scrape-me"):
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            refused = await http.get("/metrics")
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            allowed = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "WORKHORSE_METRICS_TOKEN" in refused.text
        assert wrong.status_code == 401
        assert allowed.status_code == 200
        assert b"workhorse_queue_jobs" in allowed.content


async def test_a_dead_letter_reaches_the_webhook_signed(
    store: Store, other: Store, tmp_path: Path
) -> None:
    receiver = await Receiver(statuses=[500]).start()
    try:
        settings: dict[str, Any] = {
            "alert_webhooks": receiver.url,
            "alert_secret": SECRET,
            "alert_check_interval": 0.05,
            "alert_failure_rate": 0,
            "alert_oldest_waiting": 0,
            "alert_no_workers": False,
        }
        async for api in serve(store, tmp_path, registry=registry(), **settings):
            [job] = await run_exports(api, other, BAD)
            failed, delivered = await receiver.until(2)  # a 500, then retried
        assert failed.body == delivered.body
        body = delivered.json()
        assert (body["kind"], body["queue"], body["status"]) == ("dead_letter", EXPORTS, "firing")
        assert body["details"]["jobs"] == [
            {"id": job.id, "name": EXPORT_JOB, "error": "invoice table locked"}
        ]
        headers = delivered.headers
        assert verify(
            SECRET,
            delivered.body,
            headers["X-Workhorse-Timestamp"],
            headers["X-Workhorse-Signature"],
        )
    finally:
        await receiver.close()
