"""Request and response bodies of the HTTP API (documented in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workhorse.app.payloads import ExportEntity, ExportFormat


class EnqueueOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    delay: float = Field(default=0, ge=0, description="seconds before the job may run")
    priority: int | Literal["high", "normal", "low"] | None = Field(
        default=None, description="1 (highest) .. 2097152, or high / normal / low"
    )
    job_id: str | None = Field(
        default=None, alias="jobId", description="idempotency key: adding it again returns it"
    )


class EnqueueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="the job type, e.g. 'export'")
    data: Any = Field(default=None, description="the payload, checked against the queue's model")
    options: EnqueueOptions = Field(default_factory=EnqueueOptions)


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: ExportEntity
    format: ExportFormat
    #: E-mail the caller the download link once the file is ready.
    notify: bool = Field(default=False, strict=True)


class Enqueued(BaseModel):
    jobId: str
    status: Literal["queued"] = "queued"
    message: str
    statusUrl: str


class JobStatusOut(BaseModel):
    id: str
    name: str
    state: str
    progress: Any = None
    data: Any = None
    returnvalue: Any = None
    failedReason: str | None = None


class JobSummary(BaseModel):
    id: str
    queue: str
    name: str
    state: str
    progress: Any = None
    createdAt: int
    finishedAt: int | None = None
    failedReason: str | None = None


class Cancelled(BaseModel):
    jobId: str
    previousState: str
    status: Literal["cancelled", "cancelling"]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    store: str
