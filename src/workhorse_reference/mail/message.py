"""Building messages with stable Message-IDs.

A message's Message-ID is derived from what it is the e-mail *of* (a scheduled
e-mail's id), never random, so a copy sent twice carries the same Message-ID and the
receiving side can recognise it as the same message."""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from email.utils import format_datetime

# The characters allowed in the left part of a Message-ID (RFC 5322 dot-atom text),
# less the ones that would need care; anything else is written as =XX.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def message_id(kind: str, key: str, domain: str) -> str:
    """``<key.kind@domain>``: the same for the same ``kind`` and ``key``."""
    if not kind or not key:
        raise ValueError("message_id: kind and key must be non-empty")
    safe = _UNSAFE.sub(lambda m: "".join(f"={b:02X}" for b in m.group().encode()), key)
    return f"<{safe}.{kind}@{domain}>"


def compose(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    msg_id: str,
    date: dt.datetime | None = None,
    html: str | None = None,
) -> EmailMessage:
    """A plain-text message (UTF-8 where needed); with ``html``, a
    ``multipart/alternative`` whose HTML part mail clients show instead."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = msg_id
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg
