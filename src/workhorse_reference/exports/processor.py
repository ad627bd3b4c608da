"""The ``exports`` processor: count the user's rows, write the file, store it, and
return its signed download URL.

The job's result is ``{"success": true, "message": ..., "data": {"url", "filename",
"format", "entity", "rows", "bytes", "expiresAt"}}``.  Progress goes by the steps
``query rows``, ``write file`` (rows written / rows counted) and ``store file``.
An export too large for its format fails at once, without retries."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import Mapping
from typing import Any

from workhorse.app.payloads import ExportPayload
from workhorse.app.processor import Processor, Steps
from workhorse.app.queues import EXPORTS
from workhorse.app.service import QueueService
from workhorse.errors import UnrecoverableError
from workhorse.job import Job
from workhorse_reference.domain.db import Database
from workhorse_reference.exports.artifacts import Artifact, ArtifactStore
from workhorse_reference.exports.export import ExportRun
from workhorse_reference.exports.formats import FORMATS, MAX_SHEET_ROWS, Format
from workhorse_reference.exports.rows import count_rows, user_label
from workhorse_reference.exports.settings import ExportSettings
from workhorse_reference.exports.tables import tables_of
from workhorse_reference.exports.values import iso_utc
from workhorse_reference.exports.writers.base import ExportContext

STEPS = ("query rows", "write file", "store file")


class RowProgress:
    """Reports the ``write file`` step as rows written / rows counted, at most once
    per whole percent (a large export does not flood the event stream)."""

    def __init__(self, steps: Steps, total: int) -> None:
        self.steps = steps
        self.total = total
        self.reported = -1

    async def __call__(self, written: int) -> None:
        percent = 100.0 if self.total == 0 else min(100.0, written * 100 / self.total)
        if int(percent) <= self.reported:
            return
        self.reported = int(percent)
        await self.steps.update(round(percent, 2), f"{written:,} of {self.total:,} rows written")


def export_filename(payload: ExportPayload, fmt: Format, created_ms: int) -> str:
    """``export-invoices-20260301-093000.xlsx``; ``entity=all`` in a one-table format:
    ``export-all-csv-20260301-093000.zip``.  From the job's creation time, so every
    attempt of a job names its file alike."""
    stamp = dt.datetime.fromtimestamp(created_ms / 1000, dt.UTC).strftime("%Y%m%d-%H%M%S")
    if payload.entity == "all" and not fmt.multi_table:
        return f"export-all-{fmt.name}-{stamp}.zip"
    return f"export-{payload.entity}-{stamp}.{fmt.extension}"


def check_size(fmt: Format, counts: Mapping[str, int], settings: ExportSettings) -> None:
    """Refuse (without retries) an export its format cannot hold."""
    for entity, rows in counts.items():
        if fmt.name == "pdf" and rows > settings.max_pdf_rows:
            raise UnrecoverableError(
                f"a PDF export holds at most {settings.max_pdf_rows:,} rows and {entity} has "
                f"{rows:,}: export as excel or csv (or raise WORKHORSE_EXPORTS_MAX_PDF_ROWS)"
            )
        if fmt.name == "excel" and rows >= MAX_SHEET_ROWS:
            raise UnrecoverableError(
                f"an Excel sheet holds at most {MAX_SHEET_ROWS - 1:,} rows and {entity} has "
                f"{rows:,}: export as csv or json"
            )


class ExportProcessor(Processor[ExportPayload]):
    """``ExportProcessor(service, db=..., artifacts=...)``; give create_app
    ``functools.partial(ExportProcessor, db=db, artifacts=artifacts)``."""

    queue = EXPORTS
    pooled = "workhorse_reference.pooled:export"

    def __init__(
        self,
        service: QueueService,
        *,
        db: Database,
        artifacts: ArtifactStore,
        settings: ExportSettings | None = None,
    ) -> None:
        super().__init__(service)
        self.db = db
        self.artifacts = artifacts
        self.settings = settings or ExportSettings()

    async def process(self, job: Job, payload: ExportPayload) -> Any:
        steps = self.steps(job, STEPS)
        fmt = FORMATS[payload.format]
        tables = tables_of(payload.entity)
        await steps.start("query rows", "counting rows")
        counts = await count_rows(self.db, tables, payload.user_id)
        check_size(fmt, counts, self.settings)
        total = sum(counts.values())
        now = dt.datetime.now(dt.UTC)
        context = ExportContext(await user_label(self.db, payload.user_id), iso_utc(now))
        await steps.update(100, f"{total:,} rows to export")

        await steps.start("write file", f"0 of {total:,} rows written")
        run = ExportRun(
            self.db,
            fmt,
            tables,
            payload.user_id,
            context=context,
            batch_size=self.settings.batch_size,
            on_rows=RowProgress(steps, total),
        )
        workdir = await asyncio.to_thread(self.artifacts.workdir, job.queue_name, job.id)
        try:
            written = await run.write(workdir, export_filename(payload, fmt, job.created_at))
            await steps.start("store file", "storing the file")
            artifact = await asyncio.to_thread(
                self.artifacts.put,
                written.path,
                queue=job.queue_name,
                job_id=job.id,
                filename=written.path.name,
                format=payload.format,
                entity=payload.entity,
                rows=written.rows,
                owner=job.owner or payload.user_id,
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        await steps.finish("export ready")
        return self._result(artifact)

    def _result(self, artifact: Artifact) -> dict[str, Any]:
        return {
            "success": True,
            "message": f"{artifact.entity} exported as {artifact.format}: {artifact.rows:,} rows",
            "data": {
                "url": self.artifacts.url(artifact),
                "filename": artifact.filename,
                "format": artifact.format,
                "entity": artifact.entity,
                "rows": artifact.rows,
                "bytes": artifact.size,
                "expiresAt": artifact.expires_iso,
            },
        }
