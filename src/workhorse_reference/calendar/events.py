"""Between a session row and a Google Calendar event resource.

A session becomes a timed event (``start.dateTime`` / ``end.dateTime`` in UTC)
with its title as ``summary``.  Pushed events get an id derived from the session
(:func:`event_id_for`), so an insert whose answer was lost and is retried finds
its own event (409 ``duplicate``) instead of creating a second one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any, TypedDict

from workhorse_reference.domain.models import Session

UTC = dt.UTC


class SessionFields(TypedDict):
    title: str
    description: str
    location: str
    starts_at: dt.datetime
    ends_at: dt.datetime


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(raw: str) -> dt.datetime:
    """An RFC 3339 timestamp (``Z`` or an offset) as an aware UTC datetime."""
    when = dt.datetime.fromisoformat(raw)
    if when.tzinfo is None:
        raise ValueError(f"timestamp {raw!r} has no time zone")
    return when.astimezone(UTC)


def event_id_for(session: Session) -> str:
    """A stable event id for a session: base32hex (``[a-v0-9]``, as Google requires
    of client-chosen ids) of a hash of the user, row id and creation time."""
    seed = f"workhorse-session:{session.user_id}:{session.id}:{session.created_at.isoformat()}"
    digest = hashlib.sha256(seed.encode()).digest()[:20]
    return base64.b32hexencode(digest).decode().lower()


def event_body(session: Session) -> dict[str, Any]:
    """The event fields a session owns (for insert and patch)."""
    return {
        "summary": session.title,
        "description": session.description,
        "location": session.location,
        "start": {"dateTime": rfc3339(session.starts_at)},
        "end": {"dateTime": rfc3339(session.ends_at)},
    }


def session_fields(event: dict[str, Any]) -> SessionFields | None:
    """The session fields of a timed event; None for an all-day event (``start.date``),
    which has no time to hold a session."""
    start, end = event.get("start") or {}, event.get("end") or {}
    if "dateTime" not in start or "dateTime" not in end:
        return None
    return {
        "title": str(event.get("summary") or "(no title)")[:300],
        "description": str(event.get("description") or ""),
        "location": str(event.get("location") or "")[:300],
        "starts_at": parse_time(start["dateTime"]),
        "ends_at": parse_time(end["dateTime"]),
    }


def remote_updated(event: dict[str, Any]) -> dt.datetime | None:
    raw = event.get("updated")
    return parse_time(raw) if isinstance(raw, str) else None
