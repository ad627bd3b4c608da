"""The exports' part of the API process: the download route and the sweeper."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi import APIRouter

from workhorse.app.service import QueueService
from workhorse.background import stop
from workhorse_reference.exports.artifacts import ArtifactStore
from workhorse_reference.exports.routes import download_router
from workhorse_reference.exports.sweeper import Sweeper


class ExportsExtension:
    """Serves ``artifacts``' files; sweeps them every ``sweep_interval`` seconds
    (0: never, e.g. when another process sweeps the same directory)."""

    def __init__(self, artifacts: ArtifactStore, *, sweep_interval: float = 60.0) -> None:
        if sweep_interval < 0:
            raise ValueError(f"sweep_interval must be >= 0 seconds, got {sweep_interval}")
        self.artifacts = artifacts
        self.sweep_interval = sweep_interval
        self.sweeper: Sweeper | None = None
        self._task: asyncio.Task[None] | None = None

    def routers(self) -> Sequence[APIRouter]:
        return [download_router(self.artifacts)]

    async def start(self, service: QueueService) -> None:
        self.sweeper = Sweeper(self.artifacts, service)
        if self.sweep_interval > 0:
            self._task = asyncio.create_task(
                self.sweeper.run(self.sweep_interval), name="wh-exports-sweeper"
            )

    async def close(self) -> None:
        await stop(self._task)
        self._task = None
