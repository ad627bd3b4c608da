"""The reference application assembled for one process.

:class:`ReferenceApp` builds the domain database, the export artifact store, the
mailer and the Google Calendar settings from the environment, and hands out what
each kind of process runs:

- the API (``workhorse serve``): :meth:`extensions` (export downloads and their
  sweeper, the Google Calendar connect routes, the job lifecycle audit recorder,
  the schedules installed at start) and
  :attr:`audit` (admin actions into the domain database);
- a worker (``workhorse worker workhorse_reference.worker:create``): the processors
  of :meth:`processors`;
- the demo (``workhorse demo``): all of it in one process, with demo data.

Environment: ``WORKHORSE_DOMAIN_URL`` (the domain database, default a SQLite file
beside the embedded store), plus the settings of each part: ``WORKHORSE_EXPORTS_*``,
``WORKHORSE_SMTP_*``, ``GOOGLE_*`` (see their modules).  Google Calendar sync runs
only when ``GOOGLE_CLIENT_ID`` and ``GOOGLE_CLIENT_SECRET`` are set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from fastapi import APIRouter
from pydantic import ValidationError

from workhorse.api.extension import Extension, ProcessorFactory
from workhorse.app.service import QueueService
from workhorse.app.settings import Settings
from workhorse_reference.audit import AuditCleanupProcessor, JobAuditRecorder, SqlAuditLog
from workhorse_reference.calendar import CalendarSyncProcessor
from workhorse_reference.calendar.extension import CalendarConnect
from workhorse_reference.calendar.settings import CalendarSettings
from workhorse_reference.domain.db import Database
from workhorse_reference.emails import ScheduledEmailsProcessor
from workhorse_reference.exports import (
    ArtifactStore,
    ExportProcessor,
    ExportSettings,
    ExportsExtension,
)
from workhorse_reference.mail.sender import Mailer
from workhorse_reference.mail.settings import MailSettings
from workhorse_reference.recurring import RecurringSessionsProcessor
from workhorse_reference.schedules import install_schedules
from workhorse_reference.workflow import WorkflowTasksProcessor

log = logging.getLogger("workhorse_reference")
DOMAIN_URL_ENV = "WORKHORSE_DOMAIN_URL"


def domain_url(settings: Settings, environ: dict[str, str]) -> str:
    """``WORKHORSE_DOMAIN_URL``, else ``reference.db`` beside the embedded store."""
    return environ.get(DOMAIN_URL_ENV) or f"sqlite:///{settings.data_dir / 'reference.db'}"


class ReferenceApp:
    """The parts of the reference application for ``settings``.  Also an
    :class:`~workhorse.api.extension.Extension` that creates (or checks) the domain
    schema and installs the schedules when the API starts, and closes the database
    last."""

    def __init__(
        self,
        settings: Settings,
        *,
        db_url: str,
        exports: ExportSettings | None = None,
        mail: MailSettings | None = None,
        calendar: CalendarSettings | None = None,
    ) -> None:
        self.settings = settings
        self.db = Database(db_url)
        self.exports = exports or ExportSettings()
        if "dir" not in self.exports.model_fields_set:  # beside the embedded store
            self.exports = self.exports.model_copy(update={"dir": settings.data_dir / "exports"})
        self.artifacts = ArtifactStore.from_settings(self.exports, settings)
        self.mailer = Mailer(mail or MailSettings())
        self.calendar = calendar or CalendarSettings()
        self.audit = SqlAuditLog(self.db)

    @property
    def calendar_enabled(self) -> bool:
        try:
            self.calendar.check()
        except ValueError:
            return False
        return True

    def processors(self) -> list[ProcessorFactory]:
        """A factory per queue this process can run (calendar sync only when Google
        is configured)."""
        made: list[ProcessorFactory] = [
            partial(
                ExportProcessor,
                db=self.db,
                artifacts=self.artifacts,
                settings=self.exports,
                mailer=self.mailer,
            ),
            partial(ScheduledEmailsProcessor, db=self.db, mailer=self.mailer),
            partial(WorkflowTasksProcessor, db=self.db, mailer=self.mailer),
            partial(RecurringSessionsProcessor, db=self.db),
            partial(AuditCleanupProcessor, db=self.db),
        ]
        if self.calendar_enabled:
            made.append(partial(CalendarSyncProcessor, db=self.db, settings=self.calendar))
        else:
            log.info("google-calendar-sync: not run here (set GOOGLE_CLIENT_ID/SECRET)")
        return made

    def extensions(self) -> list[Extension]:
        """What the API process runs: this object first (database, schedules), then
        the export downloads and sweeper, the calendar connect routes (their state
        signed with the API's secret), then the lifecycle audit recorder."""
        return [
            self,
            ExportsExtension(self.artifacts, sweep_interval=self.exports.sweep_interval),
            CalendarConnect(self.db, self.calendar, self.settings.secret()),
            JobAuditRecorder(self.db),
        ]

    # ---- Extension ----------------------------------------------------------------
    def routers(self) -> Sequence[APIRouter]:
        return []

    async def start(self, service: QueueService) -> None:
        await self.db.create()
        await install_schedules(service)

    async def close(self) -> None:
        await self.db.close()


def from_env(
    settings: Settings,
    environ: dict[str, str],
    mail: MailSettings | None = None,
    base_url: str = "",
) -> ReferenceApp:
    """The application configured by the environment (``mail``: these SMTP settings
    instead of ``WORKHORSE_SMTP_*``; ``base_url``: where the API answers, the download
    links' prefix unless ``WORKHORSE_EXPORTS_BASE_URL`` says); a bad variable is a
    ``SystemExit`` naming it."""
    try:
        exports = ExportSettings()
        if base_url and not exports.base_url:
            exports = exports.model_copy(update={"base_url": base_url})
        return ReferenceApp(
            settings, db_url=domain_url(settings, environ), exports=exports, mail=mail
        )
    except (ValidationError, ValueError) as exc:
        raise SystemExit(f"error: reference application settings: {exc}") from None
