"""A real SMTP server for the tests: aiosmtpd's protocol served by asyncio on a free
local port, in the test's own event loop, recording every message it accepts.  It
can refuse recipients (``refuse``), answer the next DATA commands with errors
(``data_replies``) and hold DATA until the test opens a gate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession

from workhorse_reference.mail import MailSettings


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        """Unfolded, as receivers read it: a long header line is folded on the wire."""
        return str(self.message["Message-ID"]).strip()

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert isinstance(part, EmailMessage)
        return str(part.get_content()).replace("\r\n", "\n")  # CRLF on the wire


@dataclass
class Recorder:
    """The aiosmtpd handler."""

    received: list[Received] = field(default_factory=list)
    #: recipient address -> reply to its RCPT command, e.g. "550 5.1.1 no such user"
    refuse: dict[str, str] = field(default_factory=dict)
    #: replies to the next DATA commands instead of accepting, e.g. "451 4.3.0 later"
    data_replies: list[str] = field(default_factory=list)
    #: when set, DATA waits until the gate is opened
    gate: asyncio.Event | None = None
    data_started: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        self.data_started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.data_replies:
            return self.data_replies.pop(0)
        raw = envelope.original_content
        assert isinstance(raw, bytes)
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        async with self.arrived:
            self.received.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), message)
            )
            self.arrived.notify_all()
        return "250 OK: queued"

    async def wait_for(self, count: int, timeout: float = 15) -> Sequence[Received]:
        """The messages once at least ``count`` have arrived."""
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)


class SmtpServer:
    """``async with SmtpServer() as smtp:`` -- a listening server; ``smtp.settings()``
    points a :class:`~workhorse_reference.mail.Mailer` at it."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> SmtpServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self.recorder, hostname="smtp.test", loop=loop), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def settings(self, **overrides: Any) -> MailSettings:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "from_address": "coach@workhorse.test",
            "starttls": False,
            "timeout": 10.0,
            **overrides,
        }
        return MailSettings(**values)
