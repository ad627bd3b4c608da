"""The live progress payload (``queue:job:progress``) from events and from jobs.

``{jobId, status: waiting|active|completed|failed|delayed, progress?, message?,
result?: {success, message?, data?}}`` -- the original system's shape.  ``queue`` is
added so a client watching several queues can tell equal ids apart.
"""

from __future__ import annotations

from typing import Any

import orjson

from workhorse.job import Job, JobState
from workhorse.store.base import Event

EVENT_NAME = "queue:job:progress"
FINAL = frozenset({"completed", "failed"})

_STATUS_OF_STATE = {
    JobState.WAITING: "waiting",
    JobState.PRIORITIZED: "waiting",
    JobState.WAITING_CHILDREN: "waiting",
    JobState.DELAYED: "delayed",
    JobState.ACTIVE: "active",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
}


def _progress_fields(progress: Any) -> dict[str, Any]:
    """A number stays a number; a step object gives its overall percentage and its
    message (or the current step's name)."""
    if isinstance(progress, int | float) and not isinstance(progress, bool):
        return {"progress": progress}
    if isinstance(progress, dict):
        out: dict[str, Any] = {}
        overall = progress.get("overallProgress")
        if isinstance(overall, int | float):
            out["progress"] = overall
        message = progress.get("message") or progress.get("currentStep")
        if message:
            out["message"] = str(message)
        return out
    return {}


def _result(value: Any) -> dict[str, Any]:
    """A job's return value as the event's ``result``: a value already of the seed's
    shape ``{success, message?, data?}`` is passed as is (so an export's URL is at
    ``result.data.url``); any other value becomes ``{success: true, data: value}``."""
    if isinstance(value, dict) and isinstance(value.get("success"), bool):
        return {k: value[k] for k in ("success", "message", "data") if k in value}
    return {"success": True, "data": value}


def _base(queue: str, job_id: str, status: str) -> dict[str, Any]:
    return {"jobId": job_id, "queue": queue, "status": status}


def from_job(job: Job) -> dict[str, Any]:
    """The payload describing a job as it is now (sent on subscribe / reconnect)."""
    out = _base(job.queue_name, job.id, _STATUS_OF_STATE[job.state])
    out.update(_progress_fields(job.progress))
    if job.state is JobState.COMPLETED:
        out["progress"] = 100
        out["result"] = _result(job.returnvalue)
    elif job.state is JobState.FAILED:
        reason = job.failed_reason or "failed"
        out["message"] = reason
        out["result"] = {"success": False, "message": reason}
    return out


def from_event(event: Event) -> dict[str, Any] | None:
    """The payload of one stream event, or None for events a client does not see
    (logs, removals, queue-wide events)."""
    f = event.fields
    kind = event.event
    if kind == "added":
        return _base(event.queue, event.job_id, _added_status(f.get("state", "")))
    if kind in ("waiting", "active", "delayed"):
        return _base(event.queue, event.job_id, kind)
    if kind == "progress":
        out = _base(event.queue, event.job_id, "active")
        out.update(_progress_fields(orjson.loads(f["data"]) if f.get("data") else None))
        return out
    if kind == "retrying":
        status = "delayed" if int(f.get("delay") or 0) > 0 else "waiting"
        return {**_base(event.queue, event.job_id, status), "message": f.get("error", "")}
    if kind == "completed":
        raw = f.get("result")
        data = orjson.loads(raw) if raw else None
        out = _base(event.queue, event.job_id, "completed")
        return {**out, "progress": 100, "result": _result(data)}
    if kind == "failed":
        reason = f.get("error") or "failed"
        out = _base(event.queue, event.job_id, "failed")
        return {**out, "message": reason, "result": {"success": False, "message": reason}}
    return None


def _added_status(state: str) -> str:
    return "delayed" if state == JobState.DELAYED.value else "waiting"
