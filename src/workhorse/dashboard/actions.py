"""What operators do from the dashboard: every action is a POST to
``/admin/queues/act/<action>`` with the page's CSRF token, by an admin (a viewer gets
403), and is written to the audit log -- before it runs, so an audit log that fails
stops the action -- then the browser goes back where it was with a message.

Each action first checks its input (400 naming the field; nothing changes) and
that it applies (404 for what does not exist, 409 for a job in the wrong state),
and returns a :class:`Plan`: what it touches, for the audit entry, and how to do it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from workhorse.app import admin
from workhorse.app.audit import AuditEntry, AuditLog
from workhorse.app.errors import PayloadInvalid, UnknownQueue
from workhorse.app.service import QueueService
from workhorse.dashboard.guard import is_secure, safe_back, service_of
from workhorse.dashboard.pages import error_page, posted_form
from workhorse.dashboard.search import BadInput
from workhorse.dashboard.session import BASE, FLASH_COOKIE, set_cookie
from workhorse.errors import InvalidTransition
from workhorse.job import CANCELLABLE, Job, JobState
from workhorse.queue import Queue
from workhorse.schedule import (
    get_schedule,
    pause_schedule,
    remove_schedule,
    resume_schedule,
    trigger_schedule,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger("workhorse.dashboard")
CLEANABLE = (
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.DELAYED,
    JobState.WAITING,
    JobState.PRIORITIZED,
)


class Refused(Exception):
    """The action does not apply: ``status`` 404 (absent) or 409 (wrong state)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Plan:
    target: str
    run: Callable[[], Awaitable[str]]
    detail: dict[str, Any] = field(default_factory=dict)


class Form:
    """The posted fields, read with checks that name the field."""

    def __init__(self, form: FormData, service: QueueService) -> None:
        self.form = form
        self.service = service

    def text(self, name: str, required: bool = True, limit: int = 500) -> str:
        value = str(self.form.get(name, "")).strip()
        if required and not value:
            raise BadInput(name, "is required")
        if len(value) > limit:
            raise BadInput(name, f"at most {limit} characters")
        return value

    def queue(self) -> Queue:
        try:
            return self.service.queue(self.text("queue"))
        except UnknownQueue as exc:
            raise BadInput("queue", str(exc)) from None

    async def job(self, queue: Queue) -> Job:
        job_id = self.text("job", limit=1000)
        job = await queue.get_job(job_id)
        if job is None:
            raise Refused(404, f"no job {job_id!r} in queue {queue.name!r} (removed?)")
        return job

    def state(self, allowed: tuple[JobState, ...], default: JobState) -> JobState:
        raw = self.text("state", required=False) or default.value
        if raw not in {s.value for s in allowed}:
            raise BadInput("state", f"must be one of {', '.join(s.value for s in allowed)}")
        return JobState(raw)

    def seconds(self, name: str) -> float:
        raw = self.text(name, required=False) or "0"
        try:
            value = float(raw)
        except ValueError:
            raise BadInput(name, f"must be a number of seconds, got {raw!r}") from None
        if not 0 <= value < 10**9:
            raise BadInput(name, "must be a number of seconds from 0")
        return value

    def json(self, name: str) -> Any:
        raw = self.text(name, limit=1_000_000)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadInput(name, f"invalid JSON ({exc})") from None


def _ref(job: Job) -> str:
    return f"{job.queue_name}/{job.id}"


def _require(job: Job, states: tuple[JobState, ...], verb: str) -> None:
    if job.state not in states:
        allowed = " or ".join(s.value for s in states)
        raise Refused(409, f"job {job.id} is {job.state.value}: only a {allowed} job can be {verb}")


# ---- jobs -------------------------------------------------------------------------
async def retry(f: Form) -> Plan:
    q = f.queue()
    job = await f.job(q)
    _require(job, (JobState.FAILED, JobState.COMPLETED), "retried")

    async def run() -> str:
        await q.retry_job(job.id, job.state)
        return f"Job {job.id} is waiting again"

    return Plan(_ref(job), run, {"from": job.state.value})


async def promote(f: Form) -> Plan:
    q = f.queue()
    job = await f.job(q)
    _require(job, (JobState.DELAYED,), "promoted")

    async def run() -> str:
        await q.promote(job.id)
        return f"Job {job.id} is ready now"

    return Plan(_ref(job), run)


async def remove(f: Form) -> Plan:
    q = f.queue()
    job = await f.job(q)
    if job.state is JobState.ACTIVE:
        raise Refused(409, f"job {job.id} is running: cancel it instead of removing it")

    async def run() -> str:
        removed = await q.remove(job.id)
        return f"Job {job.id} removed" if removed else f"Job {job.id} was already gone"

    return Plan(_ref(job), run, {"state": job.state.value})


async def cancel(f: Form) -> Plan:
    q = f.queue()
    job = await f.job(q)
    _require(job, tuple(s for s in JobState if s in CANCELLABLE), "cancelled")

    async def run() -> str:
        before = await q.cancel(job.id)
        if before is JobState.ACTIVE:
            return f"Job {job.id} is being stopped by its worker"
        return f"Job {job.id} cancelled"

    return Plan(_ref(job), run, {"state": job.state.value})


async def edit_data(f: Form) -> Plan:
    q = f.queue()
    job = await f.job(q)
    data = f.json("data")
    try:
        data = f.service.validate(q.name, job.name, data)
    except PayloadInvalid as exc:
        names = ", ".join(e["field"] for e in exc.errors)
        raise BadInput(names, "; ".join(e["message"] for e in exc.errors)) from None
    _require(job, (JobState.FAILED,), "edited")

    async def run() -> str:
        await q.update_data(job.id, data)
        return f"Data of job {job.id} saved; retry or redrive it to run it again"

    return Plan(_ref(job), run, {"before": job.data, "after": data})


async def redrive(f: Form) -> Plan:
    q = f.queue()
    job = await f.job(q)
    if job.dead_lettered_at is None:
        raise Refused(409, f"job {job.id} is not a dead letter")

    async def run() -> str:
        await q.redrive(job.id)
        return f"Dead letter {job.id} is waiting again with fresh attempts"

    return Plan(f"{q.name}/dead/{job.id}", run)


# ---- queues -----------------------------------------------------------------------
async def pause(f: Form) -> Plan:
    q = f.queue()

    async def run() -> str:
        await q.pause()
        return f"Queue {q.name} paused: workers take no new jobs"

    return Plan(q.name, run)


async def resume(f: Form) -> Plan:
    q = f.queue()

    async def run() -> str:
        await q.resume()
        return f"Queue {q.name} resumed"

    return Plan(q.name, run)


def _quiet(_: int) -> None:
    """No progress report: the page shows the total when done."""


async def retry_all(f: Form) -> Plan:
    q = f.queue()
    state = f.state((JobState.FAILED, JobState.COMPLETED), JobState.FAILED)

    async def run() -> str:
        n = await admin.retry_all(q, state, _quiet)
        return f"{n} {state.value} job(s) of {q.name} are waiting again"

    return Plan(q.name, run, {"state": state.value})


async def retry_everywhere(f: Form) -> Plan:
    """Retry the failed jobs of every queue (the failures page across queues)."""
    queues = f.service.queues

    async def run() -> str:
        total = 0
        for q in queues:
            total += await admin.retry_all(q, JobState.FAILED, _quiet)
        return f"{total} failed job(s) in {len(queues)} queues are waiting again"

    return Plan("*", run, {"state": "failed"})


async def clean(f: Form) -> Plan:
    q = f.queue()
    state = f.state(CLEANABLE, JobState.COMPLETED)
    age = f.seconds("age")

    async def run() -> str:
        n = await admin.clean(q, state, age, None, _quiet)
        return f"{n} {state.value} job(s) older than {age:g} s removed from {q.name}"

    return Plan(q.name, run, {"state": state.value, "age_s": age})


async def empty(f: Form) -> Plan:
    q = f.queue()

    async def run() -> str:
        n = await q.drain(delayed=True)
        return f"{n} waiting and delayed job(s) of {q.name} removed"

    return Plan(q.name, run)


async def redrive_all(f: Form) -> Plan:
    q = f.queue()
    name, reason = f.text("name", required=False), f.text("reason", required=False)

    async def run() -> str:
        n = await q.redrive_all(name=name or None, reason=reason or None)
        return f"{n} dead letter(s) of {q.name} are waiting again"

    return Plan(f"{q.name}/dead", run, {"name": name, "reason": reason})


async def purge_dead(f: Form) -> Plan:
    q = f.queue()

    async def run() -> str:
        n = await q.purge_dead_letters()
        return f"{n} dead letter(s) of {q.name} deleted"

    return Plan(f"{q.name}/dead", run)


# ---- schedules --------------------------------------------------------------------
def _schedule_action(
    act: Callable[[Any, str], Awaitable[Any]], done: str
) -> Callable[[Form], Awaitable[Plan]]:
    async def prepare(f: Form) -> Plan:
        key = f.text("key", limit=200)
        store = f.service.store
        if await get_schedule(store, key) is None:
            raise Refused(404, f"no schedule {key!r}")

        async def run() -> str:
            result = await act(store, key)
            extra = f" as job {result}" if isinstance(result, str) else ""
            return f"Schedule {key} {done}{extra}"

        return Plan(f"schedule/{key}", run)

    return prepare


ACTIONS: Mapping[str, Callable[[Form], Awaitable[Plan]]] = MappingProxyType(
    {
        "retry": retry,
        "promote": promote,
        "remove": remove,
        "cancel": cancel,
        "edit-data": edit_data,
        "redrive": redrive,
        "pause": pause,
        "resume": resume,
        "retry-all": retry_all,
        "retry-all-queues": retry_everywhere,
        "clean": clean,
        "empty": empty,
        "redrive-all": redrive_all,
        "purge-dead": purge_dead,
        "schedule-trigger": _schedule_action(trigger_schedule, "enqueued now"),
        "schedule-pause": _schedule_action(pause_schedule, "paused"),
        "schedule-resume": _schedule_action(resume_schedule, "resumed"),
        "schedule-remove": _schedule_action(remove_schedule, "removed"),
    }
)


@router.post(BASE + "/act/{action}")
async def act(request: Request, action: str) -> Response:
    checked = await posted_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    if not session.can_act:
        log.warning("dashboard: %s (viewer) tried %s", session.user, action)
        return error_page(request, session, 403, "read-only: a viewer can look but not act")
    prepare = ACTIONS.get(action)
    if prepare is None:
        return error_page(request, session, 404, f"action: unknown action {action!r}")
    try:
        plan = await prepare(Form(form, service_of(request)))
    except BadInput as exc:
        return error_page(request, session, 400, str(exc))
    except Refused as exc:
        return error_page(request, session, exc.status, str(exc))
    audit: AuditLog = request.app.state.audit
    await audit.record(AuditEntry(session.user, action, plan.target, plan.detail))
    try:
        message = await plan.run()
    except InvalidTransition as exc:  # the job moved between the check and the action
        return error_page(request, session, 409, str(exc))
    response = RedirectResponse(safe_back(str(form.get("back", ""))), status_code=303)
    set_cookie(response, FLASH_COOKIE, quote(f"ok:{message}"), 60, is_secure(request))
    return response
