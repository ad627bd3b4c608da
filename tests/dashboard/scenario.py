"""Realistic data for the dashboard's screenshots: the reference application's six
queues with exports that write files in steps, calendar syncs that hit rate limits,
e-mails that bounce, a workflow flow, schedules, dead letters -- all made by real
workers with real failures and stack traces -- and a few long jobs held running
(with progress and logs) until :meth:`Scenario.close`."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from workhorse import Queue, Worker
from workhorse.app.service import QueueService
from workhorse.errors import HttpError, UnrecoverableError
from workhorse.flow import FlowJob, add_flow
from workhorse.job import Job
from workhorse.options import Backoff, JobOptions
from workhorse.schedule import Schedule, pause_schedule, upsert_schedule

FAST = Backoff("fixed", delay=0.01)
USERS = ["u-1042", "u-2210", "u-3307", "u-4415", "u-5120"]
ENTITIES = ["sessions", "contacts", "quotes", "invoices", "all"]
FORMATS = ["csv", "excel", "pdf", "docx", "json"]
EXT = {"csv": "csv", "excel": "xlsx", "pdf": "pdf", "docx": "docx", "json": "json"}


def _render_pdf(entity: str) -> None:
    raise RuntimeError(f"PDF renderer crashed: font 'DejaVuSans' has no glyph U+1F4C5 ({entity})")


def _write_rows(entity: str, fmt: str) -> None:
    if fmt == "pdf":
        _render_pdf(entity)


async def export(job: Job) -> Any:
    data = job.data
    rows = 120 + (hash(job.id) % 4000)
    await job.log(f"querying {data['entity']} of {data['userId']}")
    await job.update_progress(
        {"currentStep": "query rows", "totalSteps": 3, "stepProgress": 100, "overallProgress": 33}
    )
    await job.log(f"{rows} rows")
    if data.get("failUntil", 0) > job.attempts_made:
        raise ConnectionError("could not reach the reporting database (timeout after 5 s)")
    _write_rows(data["entity"], data["format"])
    await job.update_progress(
        {"currentStep": "store file", "totalSteps": 3, "stepProgress": 100, "overallProgress": 100}
    )
    name = f"{data['entity']}-2025-11.{EXT[data['format']]}"
    await job.log(f"stored {name}")
    return {
        "success": True,
        "message": f"{rows} rows exported",
        "data": {
            "url": f"/api/export/files/{job.id}?sig=3f9c2a&exp=1764432000",
            "filename": name,
            "rows": rows,
        },
    }


async def calendar_sync(job: Job) -> Any:
    if job.data.get("revoked"):
        raise UnrecoverableError("Google Calendar: 401 invalid_grant (token revoked by the user)")
    if job.attempts_made == 0 and job.data.get("busy"):
        raise HttpError(429, "Google Calendar: 429 rateLimitExceeded", retry_after=0.01)
    await job.log("pulled 14 events, pushed 3 sessions")
    return {"pulled": 14, "pushed": 3, "conflicts": 0}


async def send_email(job: Job) -> Any:
    if job.data.get("to", "").endswith("@bounce.example"):
        raise RuntimeError(f"SMTP 550 5.1.1 <{job.data['to']}>: mailbox unavailable")
    await job.log(f"sent to {job.data['to']}")
    return {"messageId": f"<{job.id}@mail.workhorse.example>"}


async def plain(job: Job) -> Any:
    return {"ok": True}


class Held:
    """A handler that reports progress and logs, then waits until released."""

    def __init__(self, steps: list[tuple[str, float]]) -> None:
        self.steps = steps
        self.release = asyncio.Event()
        self.running = 0
        self.all_running = asyncio.Event()
        self.expected = 0

    async def handle(self, job: Job) -> Any:
        step, pct = self.steps[self.running % len(self.steps)]
        self.running += 1
        for page in range(1, 6):
            await job.log(f"page {page}: {37 * page} rows written ({int(pct)} % of the file)")
        await job.update_progress(
            {"currentStep": step, "totalSteps": 3, "stepProgress": pct, "overallProgress": pct}
        )
        if self.running >= self.expected:
            self.all_running.set()
        await self.release.wait()
        return {"ok": True}


class Scenario:
    def __init__(self, service: QueueService) -> None:
        self.service = service
        self.rng = random.Random(7)
        self.workers: list[Worker] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.held: list[Held] = []

    def q(self, name: str) -> Queue:
        return self.service.queue(name)

    async def burst(self, name: str, handler: Any) -> None:
        await Worker(self.q(name), handler, concurrency=8).run(burst=True)

    async def build(self) -> None:
        await self._finished_jobs()
        await self._flow()
        await self._running_jobs()
        await self._pending_jobs()
        await self._schedules()

    async def _finished_jobs(self) -> None:
        rng = self.rng
        exports = self.q("exports")
        for i in range(46):
            fmt = rng.choice(["csv", "excel", "docx", "json", "csv"])
            data = {"entity": rng.choice(ENTITIES), "format": fmt, "userId": rng.choice(USERS)}
            if i % 9 == 4:
                data["failUntil"] = 1  # fails once, then succeeds
            await exports.add(
                "export",
                data,
                owner=data["userId"],
                backoff=FAST,
                tags=("monthly",) if i % 5 == 0 else (),
            )
        for _ in range(5):
            data = {"entity": rng.choice(ENTITIES), "format": "pdf", "userId": rng.choice(USERS)}
            await exports.add("export", data, owner=data["userId"], attempts=3, backoff=FAST)
        await self.burst("exports", export)

        cal = self.q("google-calendar-sync")
        for i in range(30):
            user = rng.choice(USERS)
            data: dict[str, Any] = {"userId": user, "busy": i % 4 == 0}
            if i % 11 == 3:
                data["revoked"] = True
            await cal.add("sync", data, owner=user, backoff=FAST)
        await self.burst("google-calendar-sync", calendar_sync)

        mail = self.q("scheduled-emails")
        for i in range(40):
            to = f"client{i}@{'bounce' if i % 13 == 5 else 'acme'}.example"
            await mail.add(
                "send",
                {"emailId": f"em-{9000 + i}", "userId": rng.choice(USERS), "to": to},
                attempts=2,
                backoff=FAST,
            )
        await self.burst("scheduled-emails", send_email)
        for name, n in (("recurring-sessions", 3), ("audit-cleanup", 2)):
            for _ in range(n):
                await self.q(name).add("generate" if n == 3 else "cleanup", {"daysToKeep": 30})
            await self.burst(name, plain)

    async def _flow(self) -> None:
        await add_flow(
            self.service.store,
            FlowJob(
                "workflow-tasks",
                "onboarding",
                {"taskId": "wf-311", "userId": "u-2210"},
                options=JobOptions(job_id="onboarding-u-2210"),
                children=[
                    FlowJob(
                        "scheduled-emails",
                        "send",
                        {"emailId": "em-welcome", "to": "new@acme.example"},
                    ),
                    FlowJob("google-calendar-sync", "sync", {"userId": "u-2210"}),
                    FlowJob("workflow-tasks", "follow-up", {"taskId": "wf-312"}),
                ],
            ),
        )
        await self.burst("scheduled-emails", send_email)

    async def _running_jobs(self) -> None:
        for name, n, steps, make in (
            ("exports", 2, [("write file", 72.0), ("query rows", 31.0)], self._export_data),
            ("google-calendar-sync", 1, [("push events", 55.0)], lambda: {"userId": "u-4415"}),
        ):
            held = Held(steps)
            held.expected = n
            self.held.append(held)
            for _ in range(n):
                data = make()
                await self.q(name).add(
                    "export" if name == "exports" else "sync", data, owner=data["userId"]
                )
            worker = Worker(self.q(name), held.handle, concurrency=n)
            self.workers.append(worker)
            self.tasks.append(asyncio.create_task(worker.run()))
            await asyncio.wait_for(held.all_running.wait(), 20)

    def _export_data(self) -> dict[str, Any]:
        return {
            "entity": self.rng.choice(ENTITIES),
            "format": self.rng.choice(FORMATS),
            "userId": self.rng.choice(USERS),
        }

    async def _pending_jobs(self) -> None:
        exports = self.q("exports")
        for i in range(6):
            data = self._export_data()
            await exports.add(
                "export", data, owner=data["userId"], priority="high" if i < 2 else None
            )
        mail = self.q("scheduled-emails")
        for i in range(7):
            await mail.add(
                "send",
                {"emailId": f"em-{9100 + i}", "to": f"lead{i}@acme.example"},
                delay=600 * (i + 1),
            )
        cal = self.q("google-calendar-sync")
        for user in USERS[:3]:
            await cal.add("sync", {"userId": user}, owner=user)
        cleanup = self.q("audit-cleanup")
        await cleanup.pause()
        await cleanup.add("cleanup", {"daysToKeep": 30})

    async def _schedules(self) -> None:
        store = self.service.store
        for schedule in (
            Schedule("due-emails", "scheduled-emails", "send-due", {}, every=300),
            Schedule(
                "nightly-sessions",
                "recurring-sessions",
                "generate",
                {},
                cron="0 2 * * *",
                tz="Europe/Paris",
            ),
            Schedule(
                "audit-cleanup-daily",
                "audit-cleanup",
                "cleanup",
                {"daysToKeep": 30},
                cron="30 3 * * *",
            ),
            Schedule("calendar-hourly", "google-calendar-sync", "sync-all", {}, cron="0 * * * *"),
        ):
            await upsert_schedule(store, schedule)
        await pause_schedule(store, "audit-cleanup-daily")

    async def heartbeat(self) -> None:
        """Store the running workers' state now, as their next heartbeat would."""
        for worker in self.workers:
            await self.service.store.register_worker(worker.info(), 30_000)

    async def close(self) -> None:
        for held in self.held:
            held.release.set()
        for worker in self.workers:
            await worker.close(grace=5)
        await asyncio.gather(*self.tasks, return_exceptions=True)
