"""What the CLI's admin commands do, as functions on a store (plain data out, so
``--json`` and the human tables print the same thing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workhorse.job import Job, JobState
from workhorse.queue import Queue
from workhorse.store.base import Store

Progress = Callable[[int], None]


async def queue_counts(store: Store, names: list[str]) -> list[dict[str, Any]]:
    """Counts per state of every queue in the store (and of ``names``)."""
    out = []
    for name in sorted(set(await store.queues()) | set(names)):
        counts = await store.counts(name)
        row: dict[str, Any] = {"queue": name, "paused": await store.is_paused(name)}
        row.update({state.value: counts.get(state, 0) for state in JobState})
        out.append(row)
    return out


def job_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "state": job.state.value,
        "owner": job.owner,
        "attempts": f"{job.attempts_made}/{job.attempts}",
        "progress": job.progress,
        "createdAt": job.created_at,
        "finishedAt": job.finished_at,
        "failedReason": job.failed_reason,
    }


async def job_detail(queue: Queue, job_id: str) -> dict[str, Any] | None:
    job = await queue.get_job(job_id)
    if job is None:
        return None
    return {
        **job_row(job),
        "queue": queue.name,
        "data": job.data,
        "options": job.options,
        "returnvalue": job.returnvalue,
        "stacktrace": job.stacktrace,
        "tags": job.tags,
        "logs": await queue.get_logs(job_id),
        "history": await queue.get_history(job_id),
    }


async def retry_all(queue: Queue, state: JobState, progress: Progress, batch: int = 200) -> int:
    """Retry every job in ``state`` in batches, reporting each batch."""
    total = 0
    while moved := await queue.store.retry_jobs(queue.name, state, batch):
        total += moved
        progress(moved)
    return total


async def clean(
    queue: Queue, state: JobState, grace: float, limit: int | None, progress: Progress
) -> int:
    """Delete jobs in ``state`` older than ``grace`` seconds, in batches (all of them,
    or at most ``limit``)."""
    total = 0
    while limit is None or total < limit:
        batch = 500 if limit is None else min(500, limit - total)
        removed = len(await queue.clean(state, grace, batch))
        if not removed:
            break
        total += removed
        progress(removed)
    return total
