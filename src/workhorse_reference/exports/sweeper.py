"""Removing export files with their jobs.

The engine removes finished jobs by their retention (``remove_on_complete``) or an
admin's clean, and has no hook for it; so the API process sweeps the artifact store
periodically and removes every file whose job no longer exists, or whose download
URL has expired.  Folders of exports being written are left alone unless older
than :data:`STALE_WORKDIR` (a worker that crashed mid-export)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from workhorse.app.errors import UnknownQueue
from workhorse.app.service import QueueService
from workhorse_reference.exports.artifacts import Artifact, ArtifactStore

#: Seconds after which an unfinished export's folder is left-over (far beyond the
#: exports queue's 5 minute time limit).
STALE_WORKDIR = 6 * 3600
log = logging.getLogger("workhorse.exports")


class Sweeper:
    def __init__(self, artifacts: ArtifactStore, service: QueueService) -> None:
        self.artifacts = artifacts
        self.service = service

    async def sweep(self, now: float | None = None) -> list[Path]:
        """One pass: the folders removed."""
        now = self.artifacts.clock() if now is None else now
        removed = []
        for folder, artifact in await asyncio.to_thread(lambda: list(self.artifacts.stored())):
            if await self._obsolete(folder, artifact, now):
                await asyncio.to_thread(self.artifacts.remove, folder)
                removed.append(folder)
        for workdir in await asyncio.to_thread(lambda: list(self.artifacts.workdirs())):
            if (await asyncio.to_thread(workdir.stat)).st_mtime + STALE_WORKDIR <= now:
                await asyncio.to_thread(self.artifacts.remove, workdir)
                removed.append(workdir)
        return removed

    async def _obsolete(self, folder: Path, artifact: Artifact | None, now: float) -> bool:
        if artifact is None:  # no readable description: judge by age
            modified = (await asyncio.to_thread(folder.stat)).st_mtime
            return modified + self.artifacts.url_ttl <= now
        if artifact.expires_at <= now:
            return True
        try:
            queue = self.service.queue(artifact.queue)
        except UnknownQueue:
            return False  # another application's queue: not ours to judge
        return await queue.get_job(artifact.job_id) is None

    async def run(self, interval: float) -> None:
        """Sweep every ``interval`` seconds until cancelled."""
        while True:
            try:
                removed = await self.sweep()
            except Exception:
                log.exception("exports: sweeping %s failed", self.artifacts.root)
            else:
                if removed:
                    log.info("exports: removed %d file folder(s)", len(removed))
            await asyncio.sleep(interval)
