"""What ``workhorse demo`` adds to the reference application: demo data for
``alice`` and ``bob``, the scheduler running inside the demo's one process, and a
local SMTP server that keeps the demo's e-mails as files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope
from fastapi import APIRouter

from workhorse.app.service import QueueService
from workhorse.schedule import Scheduler
from workhorse_reference.domain.db import Database
from workhorse_reference.mail.settings import MailSettings
from workhorse_reference.seed import seed_demo

log = logging.getLogger("workhorse_reference.demo")


class DemoData:
    """Seeds the demo users' data once the domain schema exists (idempotent: a
    restarted demo keeps what it had)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def routers(self) -> Sequence[APIRouter]:
        return []

    async def start(self, service: QueueService) -> None:
        seeded = await seed_demo(self.db)
        if seeded["created"]:
            log.info("demo data created for %s", ", ".join(seeded["created"]))

    async def close(self) -> None:
        return None


class InProcessScheduler:
    """Runs the engine's :class:`~workhorse.schedule.Scheduler` in this process, as
    ``workhorse scheduler`` does in production."""

    def __init__(self, poll: float = 1.0) -> None:
        self.poll = poll
        self._scheduler: Scheduler | None = None
        self._task: asyncio.Task[None] | None = None

    def routers(self) -> Sequence[APIRouter]:
        return []

    async def start(self, service: QueueService) -> None:
        self._scheduler = Scheduler(service.store, poll=self.poll)
        self._task = asyncio.create_task(self._scheduler.run())

    async def close(self) -> None:
        if self._scheduler is not None:
            await self._scheduler.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class MailSink:
    """A local SMTP server for the demo: every e-mail the demo's jobs send is saved
    as ``<folder>/<n>-<Message-ID>.eml`` instead of leaving the machine.  The socket
    is bound at construction (port 0: any free port), so :attr:`port` is known
    before the mailer is configured; it serves once the API starts."""

    def __init__(self, folder: Path, host: str = "127.0.0.1") -> None:
        self.folder = folder
        self.socket = socket.create_server((host, 0))
        self.host = host
        self.port: int = self.socket.getsockname()[1]
        self._server: asyncio.Server | None = None

    def settings(self) -> MailSettings:
        return MailSettings(
            host=self.host, port=self.port, starttls=False, from_address="demo@workhorse.test"
        )

    def routers(self) -> Sequence[APIRouter]:
        return []

    async def start(self, service: QueueService) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(_SaveMessages(self.folder), hostname="workhorse-demo"), sock=self.socket
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class _SaveMessages:
    """The aiosmtpd handler: one ``.eml`` file per accepted message."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        header = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        message_id = str(header.get("Message-ID", "")).strip("<> ")
        name = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in message_id)[:120]
        count = len(list(self.folder.glob("*.eml"))) + 1
        path = self.folder / f"{count:05d}-{name or 'message'}.eml"
        await asyncio.to_thread(path.write_bytes, raw)
        log.info("demo mail to %s saved in %s", ", ".join(envelope.rcpt_tos), path)
        return "250 OK"
