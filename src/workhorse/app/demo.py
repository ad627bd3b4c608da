"""``workhorse demo``: the API, live progress and workers in one process on the
embedded store, with the demo users ``alice``, ``bob`` and ``admin``.

The ``exports`` queue runs :class:`PreviewExportProcessor`, a stand-in that walks
through the export's steps without writing a file, until the real export processor
(issue 6) replaces it."""

from __future__ import annotations

import asyncio
from typing import Any

from workhorse.app.payloads import ExportPayload
from workhorse.app.processor import Processor
from workhorse.app.queues import EXPORTS
from workhorse.app.settings import Settings
from workhorse.job import Job

DEMO_USERS = (("alice", False), ("bob", False), ("admin", True))
STEPS = ("query rows", "write file", "store file")


class PreviewExportProcessor(Processor[ExportPayload]):
    queue = EXPORTS
    step_seconds = 0.6

    async def process(self, job: Job, payload: ExportPayload) -> Any:
        steps = self.steps(job, STEPS)
        for name in STEPS:
            await steps.start(name)
            for pct in (25, 50, 75, 100):
                await asyncio.sleep(self.step_seconds / 4)
                await steps.update(pct)
        return {"entity": payload.entity, "format": payload.format, "preview": True}


def demo_settings(data_dir: str) -> Settings:
    """The embedded store in ``data_dir``, whatever Redis the environment names; the
    generated secret is kept there too, so ``workhorse token`` run in the same
    working directory mints tokens the demo accepts."""
    db = f"{data_dir.rstrip('/')}/workhorse.db"
    return Settings(store_url=f"sqlite:///{db}", db_path=db, environment="development")


def banner(base_url: str, tokens: dict[str, str]) -> str:
    lines = [
        f"Workhorse demo running at {base_url}",
        f"  demo page:      {base_url}/  (start an export, watch it live, download it)",
        f"  API docs:       {base_url}/docs",
        f"  health:         {base_url}/health",
        f"  live progress:  Socket.IO at {base_url}/socket.io (event queue:job:progress),",
        f"                  SSE at {base_url}/api/queues/exports/jobs/<jobId>/events?token=…",
        "",
        "Demo users and their bearer tokens:",
    ]
    lines += [f"  {user:<6} {token}" for user, token in tokens.items()]
    alice = tokens["alice"]
    lines += [
        "",
        "Try it:",
        f'  curl -H "Authorization: Bearer {alice}" \\',
        f'       "{base_url}/api/export?entity=sessions&format=csv"',
        f'  curl -N "{base_url}/api/queues/exports/jobs/<jobId>/events?token={alice}"',
    ]
    return "\n".join(lines)
