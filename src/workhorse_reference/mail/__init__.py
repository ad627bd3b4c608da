"""Sending e-mail over SMTP: settings from the environment, messages with stable
Message-IDs, and errors classified as temporary or permanent."""

from workhorse_reference.mail.errors import MailError, MailRejected, MailTemporaryError
from workhorse_reference.mail.message import compose, message_id
from workhorse_reference.mail.sender import Mailer
from workhorse_reference.mail.settings import MailSettings

__all__ = [
    "MailError",
    "MailRejected",
    "MailSettings",
    "MailTemporaryError",
    "Mailer",
    "compose",
    "message_id",
]
