"""HTTP endpoints: enqueue, job status, cancel, my jobs, the seed's export endpoints,
health.  Every job endpoint answers 404 for a job the caller may not see, exactly as
for a job that does not exist."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from workhorse.api.auth import Principal, current_user
from workhorse.api.schemas import (
    Cancelled,
    Enqueued,
    EnqueueRequest,
    ExportRequest,
    Health,
    JobStatusOut,
    JobSummary,
)
from workhorse.app.errors import PayloadInvalid
from workhorse.app.payloads import ExportEntity, ExportFormat
from workhorse.app.queues import EXPORTS
from workhorse.app.service import LISTED_STATES, QueueService, job_status
from workhorse.app.submit import JobSubmitter
from workhorse.errors import JobNotFound, StoreUnavailable
from workhorse.job import TERMINAL, Job, JobState

router = APIRouter()
User = Annotated[Principal, Depends(current_user)]


def service_of(request: Request) -> QueueService:
    svc: QueueService = request.app.state.service
    return svc


Service = Annotated[QueueService, Depends(service_of)]


async def visible_job(service: QueueService, user: Principal, queue: str, job_id: str) -> Job:
    """The job if it exists and the caller may see it; 404 otherwise (never 403, so
    ids of other users' jobs are not revealed)."""
    job = await service.get_job(queue, job_id)
    if not user.may_see(job):
        raise JobNotFound(queue, job_id)
    return job


def job_url(queue: str, job_id: str) -> str:
    return f"/api/queues/{queue}/jobs/{job_id}"


USER_FIELD = "userId"


def _own_data(service: QueueService, user: Principal, queue: str, name: str, data: Any) -> Any:
    """The data a caller may enqueue.  A user: only on queues that are not
    ``admin_only``, and only for themselves -- a ``userId`` in the data must be
    theirs, and a missing one is filled with theirs.  An admin: anything; a missing
    ``userId`` is filled with theirs only where the payload requires one (an optional
    one, absent, means "all users")."""
    service.queue(queue)  # 404 for an unknown queue before anything else
    config = service.registry[queue]
    if not user.admin and (config.admin_only or name in config.admin_jobs):
        what = f"{name!r} jobs" if name in config.admin_jobs else "jobs"
        raise HTTPException(403, f"queue {queue!r}: only admins may add {what}")
    if not isinstance(data, dict):
        return data
    model = config.payload_model(name)
    field = next(
        (f for f in (model.model_fields.values() if model else ()) if f.alias == USER_FIELD),
        None,
    )
    if field is not None and data.get(USER_FIELD) is None:
        fill = not user.admin or field.is_required()
        data = {**data, USER_FIELD: user.user_id} if fill else data
    if not user.admin and USER_FIELD in data and data[USER_FIELD] != user.user_id:
        raise HTTPException(
            403,
            [
                {
                    "loc": ["body", "data", USER_FIELD],
                    "msg": "you may only add jobs for yourself",
                    "type": "forbidden",
                }
            ],
        )
    return data


async def _enqueue(service: QueueService, user: Principal, queue: str, body: EnqueueRequest) -> Job:
    data = _own_data(service, user, queue, body.name, body.data)
    # Only the options the caller gave: the others keep the queue's defaults.
    opts = body.options
    options = {name: getattr(opts, name) for name in opts.model_fields_set}
    try:
        return await service.add(queue, body.name, data, owner=user.user_id, **options)
    except PayloadInvalid:
        raise
    except ValueError as exc:  # an option the engine refuses (e.g. an all-digit jobId)
        raise HTTPException(
            422, [{"loc": ["body", "options"], "msg": str(exc), "type": "value_error"}]
        ) from None


@router.post("/api/queues/{queue}/jobs", status_code=202, response_model=Enqueued, tags=["jobs"])
async def enqueue(queue: str, body: EnqueueRequest, user: User, service: Service) -> Enqueued:
    """Add a job owned by the caller; returns at once."""
    job = await _enqueue(service, user, queue, body)
    return Enqueued(
        jobId=job.id, message=f"{body.name} job queued on {queue}", statusUrl=job_url(queue, job.id)
    )


@router.get("/api/queues/{queue}/jobs/{job_id}", response_model=JobStatusOut, tags=["jobs"])
async def get_status(queue: str, job_id: str, user: User, service: Service) -> dict[str, Any]:
    return dict(job_status(await visible_job(service, user, queue, job_id)))


@router.post("/api/queues/{queue}/jobs/{job_id}/cancel", response_model=Cancelled, tags=["jobs"])
async def cancel(queue: str, job_id: str, user: User, service: Service) -> Cancelled:
    """Cancel a pending job (it fails with reason ``cancelled``) or ask a running one
    to stop (``cancelling``).  409 when the job has already finished."""
    job = await visible_job(service, user, queue, job_id)
    if job.state in TERMINAL:
        raise HTTPException(409, f"job {job_id!r} already {job.state.value}")
    previous = await service.queue(queue).cancel(job_id)
    if previous is None:
        raise JobNotFound(queue, job_id)
    if previous is JobState.ACTIVE:
        return Cancelled(jobId=job_id, previousState=previous.value, status="cancelling")
    return Cancelled(jobId=job_id, previousState=previous.value, status="cancelled")


@router.get("/api/jobs", response_model=list[JobSummary], tags=["jobs"])
async def my_jobs(
    user: User,
    service: Service,
    state: JobState | None = None,
    queue: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    owner: Annotated[str | None, Query(description="admins only: another user's jobs")] = None,
) -> list[JobSummary]:
    """The caller's jobs (an admin: everyone's, or ``owner``'s), live ones first."""
    if owner is not None and not user.admin:
        raise HTTPException(403, "owner: only admins may list other users' jobs")
    who = owner if user.admin else user.user_id
    if queue is not None:
        service.queue(queue)
    states = [state] if state else LISTED_STATES
    jobs = await service.find_jobs(who, states, limit, [queue] if queue else None)
    return [
        JobSummary(
            id=j.id,
            queue=j.queue_name,
            name=j.name,
            state=j.state.value,
            progress=j.progress,
            createdAt=j.created_at,
            finishedAt=j.finished_at,
            failedReason=j.failed_reason,
        )
        for j in jobs
    ]


@router.get("/api/export", status_code=202, response_model=Enqueued, tags=["export"])
async def export(
    entity: ExportEntity,
    format: ExportFormat,
    user: User,
    service: Service,
    notify: bool = False,
) -> Enqueued:
    """The seed's export endpoint: queue an export of the caller's rows
    (``notify=true``: also e-mail them the download link when it is ready)."""
    return await _export(service, user, entity, format, notify)


@router.post("/api/export", status_code=202, response_model=Enqueued, tags=["export"])
async def export_post(body: ExportRequest, user: User, service: Service) -> Enqueued:
    """The same, with ``{entity, format, notify?}`` as a JSON body."""
    return await _export(service, user, body.entity, body.format, body.notify)


async def _export(
    service: QueueService,
    user: Principal,
    entity: ExportEntity,
    format: ExportFormat,
    notify: bool,
) -> Enqueued:
    job_id = await JobSubmitter(service).add_export_job(
        entity=entity, format=format, user_id=user.user_id, notify=notify
    )
    return Enqueued(
        jobId=job_id,
        message=f"export of {entity} as {format} queued",
        statusUrl=f"/api/export/status/{job_id}",
    )


@router.get("/api/export/status/{job_id}", response_model=JobStatusOut, tags=["export"])
async def export_status(job_id: str, user: User, service: Service) -> dict[str, Any]:
    return dict(job_status(await visible_job(service, user, EXPORTS, job_id)))


@router.get("/health", response_model=Health, tags=["health"])
async def health(service: Service) -> Any:
    """200 when the store answers, 503 (naming the address tried) when not."""
    try:
        await service.store.ping()
    except StoreUnavailable as exc:
        return JSONResponse({"status": "unavailable", "store": str(exc)}, status_code=503)
    return Health(status="ok", store="ok")
