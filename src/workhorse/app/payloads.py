"""Payload models of the reference job types that the API enqueues itself.

Issue 6 adds the other job types' models beside these."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ExportEntity = Literal["sessions", "contacts", "quotes", "invoices", "all"]
ExportFormat = Literal["csv", "excel", "pdf", "docx", "json"]


class ExportPayload(BaseModel):
    """``exports`` queue: a user's rows of ``entity`` written as a ``format`` file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: ExportEntity
    format: ExportFormat
    user_id: str = Field(alias="userId", min_length=1)
