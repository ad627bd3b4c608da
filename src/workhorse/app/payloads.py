"""Payload models of the six reference job types: the contract between whoever
enqueues (the API, the scheduler) and the processors in ``workhorse_reference``.
The API validates every job against them before storing it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

ExportEntity = Literal["sessions", "contacts", "quotes", "invoices", "all"]
ExportFormat = Literal["csv", "excel", "pdf", "docx", "json"]


class ExportPayload(BaseModel):
    """``exports`` queue: a user's rows of ``entity`` written as a ``format`` file;
    ``notify: true`` also e-mails the user the download link once the file is ready
    (strict, so ``"yes"`` or ``1`` is refused rather than read as true)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: ExportEntity
    format: ExportFormat
    user_id: str = Field(alias="userId", min_length=1)
    notify: bool = Field(default=False, strict=True)

    @model_serializer(mode="wrap")
    def _without_default_notify(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Stored without ``notify`` when false: an export that asks for no e-mail
        keeps the data it always had, which workers predating the field accept."""
        data: dict[str, Any] = handler(self)
        if not self.notify:
            data.pop("notify", None)
        return data


class CalendarSyncPayload(BaseModel):
    """``google-calendar-sync`` queue: whose sessions and calendar to sync."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    user_id: str = Field(alias="userId", min_length=1, max_length=64)


#: The longest horizon a recurring-sessions job may ask for: beyond it a job would
#: write years of rows.
MAX_HORIZON_DAYS = 366


class RecurringSessionsPayload(BaseModel):
    """``recurring-sessions`` queue, ``{userId?, horizonDays?}``: one user's series
    (all users' when ``userId`` is absent), up to ``horizonDays`` ahead (the
    processor's setting when absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str | None = Field(default=None, alias="userId", min_length=1)
    horizon_days: int | None = Field(
        default=None, alias="horizonDays", ge=1, le=MAX_HORIZON_DAYS, strict=True
    )


class AuditCleanupPayload(BaseModel):
    """``audit-cleanup`` queue, ``{daysToKeep?: 30}``: delete audit entries older than
    that many days (>= 1; strict, so ``true`` or ``"30"`` is refused rather than read
    as a number)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days_to_keep: int = Field(default=30, alias="daysToKeep", ge=1, le=36_500, strict=True)


class ScheduledEmailPayload(BaseModel):
    """``scheduled-emails`` queue, job ``send``: the e-mail ``emailId`` of user
    ``userId`` (its job id is the e-mail id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email_id: str = Field(alias="emailId", min_length=1, max_length=64)
    user_id: str = Field(alias="userId", min_length=1, max_length=64)


class EnqueueDuePayload(BaseModel):
    """``scheduled-emails`` queue, job ``enqueue-due``: queue a send job for at most
    ``limit`` due e-mails (the oldest first).  The scheduler runs it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(default=500, ge=1, le=10_000)


class WorkflowTaskPayload(BaseModel):
    """``workflow-tasks`` queue, job ``run``: the task ``taskId`` of user ``userId``
    (its job id is the task id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str = Field(alias="taskId", min_length=1, max_length=64)
    user_id: str = Field(alias="userId", min_length=1, max_length=64)
