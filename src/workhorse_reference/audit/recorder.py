"""Job lifecycle events into the audit log.

:class:`JobAuditRecorder` follows the event stream of each queue and writes one
audit entry per lifecycle event: actor ``system``, action ``job.<event>``, target
``<queue>/<job id>``, and in ``detail`` the job's name and owner (when the job is
still stored), the error and attempt of a failure, and the event's stream
``position``.

The position is what makes a restart lose nothing: on start the recorder resumes
each queue after the last position it wrote, so events that happened while it was
down are recorded then (as long as the capped stream still holds them).

Run **one** recorder per deployment (e.g. in the scheduler process, or in one API
process): two recorders would write each entry twice.  It has the shape of an API
:class:`~workhorse.api.extension.Extension` (``routers``, ``start(service)``,
``close``), so ``create_app(extensions=[recorder])`` runs it in the API process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from workhorse.app.service import QueueService
from workhorse.events import Followers
from workhorse.store.base import Event, Store
from workhorse_reference.audit.sql_log import clip
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import AuditEntry
from workhorse_reference.domain.types import utcnow

log = logging.getLogger("workhorse_reference.audit")

#: Stream event -> audit action.
LIFECYCLE_ACTIONS: Mapping[str, str] = {
    "completed": "job.completed",
    "failed": "job.failed",
    "deadlettered": "job.deadlettered",
    "stalled": "job.stalled",
}
ACTOR = "system"
_RETRY_MAX = 30.0


class JobAuditRecorder:
    """Records ``actions`` (stream event -> audit action) of ``queues`` (default:
    every queue of the service's registry) into ``db``'s audit log."""

    def __init__(
        self,
        db: Database,
        queues: Iterable[str] | None = None,
        actions: Mapping[str, str] = LIFECYCLE_ACTIONS,
    ) -> None:
        self.db = db
        self.queues = None if queues is None else list(queues)
        self.actions = dict(actions)
        self._followers = Followers()

    def routers(self) -> Sequence[APIRouter]:
        return ()

    async def start(self, service: QueueService) -> None:
        """Start following; returns once every queue is positioned, so no later event
        is missed."""
        store = service.store
        for queue in self.queues if self.queues is not None else list(service.registry):
            after = await self._resume_position(queue) or await store.last_event_position(queue)
            self._followers.follow(store, queue, after, partial(self._on_event, store))

    async def close(self) -> None:
        await self._followers.close()

    async def _resume_position(self, queue: str) -> str | None:
        """The stream position of the last entry recorded for ``queue``."""
        query = (
            select(AuditEntry.detail)
            .where(
                AuditEntry.actor == ACTOR,
                AuditEntry.action.in_(list(self.actions.values())),
                AuditEntry.target.startswith(f"{queue}/", autoescape=True),
            )
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        async with self.db.session() as s:
            detail = await s.scalar(query)
        position = detail.get("position") if isinstance(detail, dict) else None
        return position if isinstance(position, str) else None

    async def _on_event(self, store: Store, event: Event) -> None:
        action = self.actions.get(event.event)
        if action is not None:
            await self._record_until_done(store, action, event)

    async def _record_until_done(self, store: Store, action: str, event: Event) -> None:
        """Write the entry, retrying while the database is unavailable: an event
        is never skipped, later ones wait."""
        delay = 0.5
        while True:
            try:
                await self._record(store, action, event)
                return
            except Exception:
                log.exception(
                    "audit of %s %s/%s failed; retrying", action, event.queue, event.job_id
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)

    async def _record(self, store: Store, action: str, event: Event) -> None:
        detail: dict[str, Any] = {"position": event.position}
        for key in ("error", "attempt", "count", "name"):
            if key in event.fields:
                detail[key] = event.fields[key]
        job = await store.get_job(event.queue, event.job_id)
        if job is not None:
            detail["name"] = job.name
            detail["owner"] = job.owner
        entry = AuditEntry(
            at=utcnow(),
            actor=ACTOR,
            action=action,
            target=clip(f"{event.queue}/{event.job_id}", "target"),
            detail=detail,
        )
        async with self.db.session() as s:
            s.add(entry)
