"""What went wrong sending an e-mail, classified for retries: a 5xx reply is
permanent (sending the same message again will be refused again); everything else --
a 4xx reply, a refused or lost connection, a timeout -- is temporary.  A message
aiosmtplib cannot send at all (an address it cannot encode, no recipient) is
permanent too."""

from __future__ import annotations

import aiosmtplib


class MailError(Exception):
    """Sending failed; ``code`` is the server's reply code when it gave one."""

    permanent = False

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MailTemporaryError(MailError):
    """Try again later: the server deferred the message or could not be reached."""


class MailRejected(MailError):
    """The server refused the message for good (a 5xx reply)."""

    permanent = True


def classify(exc: Exception) -> MailError:
    """The :class:`MailError` for an exception raised while talking to the server."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refused)
        codes = [r.code for r in refused]
        worst = max(codes) if codes else None
        if codes and min(codes) >= 500:
            return MailRejected(f"recipient refused: {text}", worst)
        return MailTemporaryError(f"recipient deferred: {text}", worst)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"SMTP {exc.code} {exc.message}"
        if exc.code >= 500:
            return MailRejected(text, exc.code)
        return MailTemporaryError(text, exc.code)
    if isinstance(exc, ValueError):
        return MailRejected(f"message cannot be sent: {exc}")
    return MailTemporaryError(f"{type(exc).__name__}: {exc}")
