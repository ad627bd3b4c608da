"""What the job page shows, gathered from the store: the job, its attempts, logs,
flow children, progress steps and the download link of an export."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from workhorse.job import CANCELLABLE, Job, JobState
from workhorse.queue import Queue
from workhorse.store.base import split_ref

#: Log lines shown on the job page (the newest).
LOG_LINES = 1000


@dataclass(frozen=True, slots=True)
class Moment:
    label: str
    at: int
    #: The time since the previous moment (ms), shown between the two.
    gap_ms: int | None = None
    gap_label: str = ""


@dataclass(frozen=True, slots=True)
class Progress:
    percent: float | None
    step: str | None = None
    steps: int | None = None
    step_percent: float | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Download:
    url: str
    filename: str


@dataclass(frozen=True, slots=True)
class Child:
    ref: str
    queue: str
    id: str
    outcome: str  # "pending" / "completed" / "failed"
    detail: Any


@dataclass(slots=True)
class JobPage:
    job: Job
    history: list[dict[str, Any]]
    logs: list[str]
    logs_skipped: int
    progress: Progress | None
    timeline: list[Moment]
    download: Download | None
    children: list[Child] = field(default_factory=list)

    @property
    def editable(self) -> bool:
        return self.job.state is JobState.FAILED

    @property
    def actions(self) -> list[str]:
        return actions_for(self.job)


def actions_for(job: Job) -> list[str]:
    """The actions that make sense for a job in its state."""
    state = job.state
    out = []
    if state in (JobState.FAILED, JobState.COMPLETED):
        out.append("retry")  # of a dead letter too: it leaves the dead-letter set
    if state is JobState.DELAYED:
        out.append("promote")
    if state in CANCELLABLE:
        out.append("cancel")
    if state is not JobState.ACTIVE:
        out.append("remove")
    return out


def progress_of(value: Any) -> Progress | None:
    """A number (percent) or a step object (``workhorse.app.processor.Steps``)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return Progress(float(value))
    if not isinstance(value, dict):
        return None
    overall = value.get("overallProgress")
    total = value.get("totalSteps")
    step_pct = value.get("stepProgress")
    return Progress(
        percent=float(overall) if isinstance(overall, int | float) else None,
        step=str(value["currentStep"]) if value.get("currentStep") is not None else None,
        steps=int(total) if isinstance(total, int) else None,
        step_percent=float(step_pct) if isinstance(step_pct, int | float) else None,
        message=str(value["message"]) if value.get("message") is not None else None,
    )


def download_of(result: Any) -> Download | None:
    """The file of an export-like result ``{success, message, data: {url, filename}}``;
    only http(s) or same-site links are offered."""
    data = result.get("data") if isinstance(result, dict) else None
    for holder in (data, result):
        if isinstance(holder, dict) and isinstance(holder.get("url"), str):
            url = holder["url"]
            if url.startswith(("https://", "http://")) or (
                url.startswith("/") and not url.startswith("//")
            ):
                name = holder.get("filename")
                return Download(url, str(name) if name else url.rsplit("/", 1)[-1])
    return None


def timeline_of(job: Job) -> list[Moment]:
    moments = [Moment("Added", job.created_at)]
    if job.state is JobState.DELAYED and job.due_at:
        moments.append(Moment("Due", job.due_at))
    if job.started_at:
        moments.append(Moment("Started", job.started_at, job.started_at - job.created_at, "waited"))
    if job.finished_at:
        label = "Completed" if job.state is JobState.COMPLETED else "Failed"
        ran = job.finished_at - job.started_at if job.started_at else None
        moments.append(Moment(label, job.finished_at, ran, "ran"))
    if job.dead_lettered_at:
        moments.append(Moment("Dead-lettered", job.dead_lettered_at))
    return moments


async def _children(queue: Queue, job_id: str) -> list[Child]:
    """The flow children: the ones still awaited first, then the finished ones."""
    values, failures = await queue.store.children_results(queue.name, job_id)
    out = []
    for ref in await queue.store.pending_children(queue.name, job_id):
        q, cid = split_ref(ref)
        out.append(Child(ref, q, cid, "pending", None))
    for ref, raw in sorted(values.items()):
        q, cid = split_ref(ref)
        out.append(Child(ref, q, cid, "completed", orjson.loads(raw)))
    for ref, reason in sorted(failures.items()):
        q, cid = split_ref(ref)
        out.append(Child(ref, q, cid, "failed", reason))
    return out


async def job_page(queue: Queue, job: Job) -> JobPage:
    history, logs, children = await asyncio.gather(
        queue.get_history(job.id),
        queue.get_logs(job.id, -LOG_LINES, -1),
        _children(queue, job.id),
    )
    total_logs = len(logs)
    if total_logs == LOG_LINES:
        total_logs = len(await queue.get_logs(job.id))
    return JobPage(
        job=job,
        history=history,
        logs=logs,
        logs_skipped=total_logs - len(logs),
        progress=progress_of(job.progress),
        timeline=timeline_of(job),
        download=download_of(job.returnvalue) if job.state is JobState.COMPLETED else None,
        children=children,
    )
