"""The ``exports`` processor: count the user's rows, write the file, store it, and
return its signed download URL; with ``notify: true``, also e-mail the user the link
(:mod:`workhorse_reference.exports.notify`).

The job's result is ``{"success": true, "message": ..., "data": {"url", "filename",
"format", "entity", "rows", "bytes", "expiresAt", "emailed", ...}}``: ``emailed`` is
true with the ``messageId`` (and ``alreadySent`` when an earlier attempt sent it), or
false with an ``emailReason``.  Progress goes by the steps ``query rows``, ``write
file`` (rows written / rows counted), ``store file`` and, with ``notify``,
``notify``.  An export too large for its format fails at once, without retries.

A retry (of an attempt that failed after storing the file, e.g. on the e-mail step)
reuses the stored file instead of exporting again, when it is this job's, for the
same entity and format, and its link still has at least half its validity left;
otherwise the export is written again."""

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
from workhorse_reference.exports.notify import NOT_REQUESTED, ExportNotifier, Notified
from workhorse_reference.exports.rows import count_rows, user_label
from workhorse_reference.exports.settings import ExportSettings
from workhorse_reference.exports.tables import tables_of
from workhorse_reference.exports.values import iso_utc
from workhorse_reference.exports.writers.base import ExportContext
from workhorse_reference.mail import Mailer

STEPS = ("query rows", "write file", "store file")
NOTIFY_STEP = "notify"


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


def reusable(found: Artifact, job: Job, payload: ExportPayload, artifacts: ArtifactStore) -> bool:
    """Whether ``found``, the file stored for ``job`` by an earlier attempt, can be
    its result: of the same entity, format and owner, named after this job's
    creation time (not left by an earlier job with the same id), and with at least
    half its link's validity left (the link is e-mailed and returned as it is)."""
    fmt = FORMATS[payload.format]
    return (
        (found.entity, found.format) == (payload.entity, payload.format)
        and found.filename == export_filename(payload, fmt, job.created_at)
        and found.owner == (job.owner or payload.user_id)
        and found.expires_at - artifacts.clock() >= artifacts.url_ttl / 2
    )


class ExportProcessor(Processor[ExportPayload]):
    """``ExportProcessor(service, db=..., artifacts=...)``; give create_app
    ``functools.partial(ExportProcessor, db=db, artifacts=artifacts)``.  ``mailer``
    sends the ``notify`` e-mails (default: one from ``WORKHORSE_SMTP_*``, built when
    first needed)."""

    queue = EXPORTS
    pooled = "workhorse_reference.pooled:export"

    def __init__(
        self,
        service: QueueService,
        *,
        db: Database,
        artifacts: ArtifactStore,
        settings: ExportSettings | None = None,
        mailer: Mailer | None = None,
    ) -> None:
        super().__init__(service)
        self.db = db
        self.artifacts = artifacts
        self.settings = settings or ExportSettings()
        self.notifier = ExportNotifier(db, artifacts, mailer)

    async def process(self, job: Job, payload: ExportPayload) -> Any:
        steps = self.steps(job, (*STEPS, NOTIFY_STEP) if payload.notify else STEPS)
        found = await asyncio.to_thread(self.artifacts.artifact_of, job.queue_name, job.id)
        if found is not None and reusable(found, job, payload, self.artifacts):
            await steps.start("store file", "reusing the file an earlier attempt stored")
            await job.log(f"reusing {found.filename}, stored by an earlier attempt")
            artifact = found
        else:
            artifact = await self._export(job, payload, steps)
        url = self.artifacts.url(artifact)
        if not payload.notify:
            await steps.finish("export ready")
            return self._result(artifact, url, NOT_REQUESTED)
        await steps.start(NOTIFY_STEP, "e-mailing the download link")
        notified = await self.notifier.notify(job, payload.user_id, artifact, url)
        how = "link e-mailed" if notified.emailed else f"not e-mailed: {notified.reason}"
        await steps.finish(f"export ready, {how}")
        return self._result(artifact, url, notified)

    async def _export(self, job: Job, payload: ExportPayload, steps: Steps) -> Artifact:
        """Write the export and store it as the job's file."""
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
        return artifact

    def _result(self, artifact: Artifact, url: str, notified: Notified) -> dict[str, Any]:
        return {
            "success": True,
            "message": f"{artifact.entity} exported as {artifact.format}: {artifact.rows:,} rows",
            "data": {
                "url": url,
                "filename": artifact.filename,
                "format": artifact.format,
                "entity": artifact.entity,
                "rows": artifact.rows,
                "bytes": artifact.size,
                "expiresAt": artifact.expires_iso,
                **notified.fields(),
            },
        }
