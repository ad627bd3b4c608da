"""Sending over SMTP with aiosmtplib: one connection per message."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from workhorse_reference.mail.errors import classify
from workhorse_reference.mail.message import compose, message_id
from workhorse_reference.mail.settings import MailSettings


class Mailer:
    """Sends messages through the server of ``settings``."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    def message(
        self, *, to: str, subject: str, body: str, kind: str, key: str, html: str | None = None
    ) -> EmailMessage:
        """A message from the configured sender whose Message-ID is derived from
        ``kind`` and ``key`` (see :func:`~workhorse_reference.mail.message.message_id`);
        ``html``: an HTML alternative of ``body``."""
        return compose(
            sender=self.settings.from_address,
            to=to,
            subject=subject,
            body=body,
            msg_id=message_id(kind, key, self.settings.domain),
            html=html,
        )

    async def send(self, message: EmailMessage) -> dict[str, str]:
        """Hand ``message`` to the server.  Raises
        :class:`~workhorse_reference.mail.errors.MailError` (temporary or permanent)
        when no recipient was accepted; returns the refused ones (address -> reply)
        when only some were."""
        s = self.settings
        try:
            refused, _reply = await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.user,
                password=s.password.get_secret_value() if s.password else None,
                start_tls=s.starttls,
                use_tls=s.tls,
                timeout=s.timeout,
                local_hostname=s.domain,
            )
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            raise classify(exc) from exc
        return {addr: f"{r.code} {r.message}" for addr, r in refused.items()}
