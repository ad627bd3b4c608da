"""Between a session row and a Google Calendar event resource.

A session becomes a timed event in its user's time zone: ``start`` / ``end`` carry
``dateTime`` with that zone's offset and ``timeZone`` (the user's IANA name), so
Google shows it at the right wall-clock time and keeps it there across daylight
saving changes.  Sessions are stored in UTC; a timed event is read back from its
``dateTime`` offset whatever zone it is written in.

An **all-day** event (``start.date`` / ``end.date``, the end date exclusive) becomes
a session from the first instant of its start date to the first instant of its end
date in the user's zone (local midnight, or the end of a daylight-saving gap that
swallows midnight).  The schema has nowhere to remember "all-day", so the way back
is decided from the session's bounds and the event itself: a session whose bounds
are both local day starts is written back with ``date`` fields only if its event is
an all-day event (the sync reads it first, see :mod:`.sync`); a session with any
other bounds is written as a timed event.

Pushed events get an id derived from the session (:func:`event_id_for`), so an
insert whose answer was lost and is retried finds its own event (409 ``duplicate``)
instead of creating a second one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from workhorse_reference.domain.models import Session

UTC = dt.UTC


class SessionFields(TypedDict):
    title: str
    description: str
    location: str
    starts_at: dt.datetime
    ends_at: dt.datetime


def rfc3339(when: dt.datetime, zone: ZoneInfo) -> str:
    """``when`` as wall-clock time in ``zone`` with its offset (``Z`` for UTC)."""
    return when.astimezone(zone).isoformat().replace("+00:00", "Z")


def parse_time(raw: str) -> dt.datetime:
    """An RFC 3339 timestamp (``Z`` or an offset) as an aware UTC datetime."""
    when = dt.datetime.fromisoformat(raw)
    if when.tzinfo is None:
        raise ValueError(f"timestamp {raw!r} has no time zone")
    return when.astimezone(UTC)


def day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The first instant of ``day`` in ``zone``, in UTC.  ``fold=0`` makes it the
    first of two midnights when clocks go back over midnight, and the end of the
    gap when they skip it (zoneinfo reads a skipped time with the offset before the
    change, which lands exactly on the change)."""
    return dt.datetime.combine(day, dt.time(), zone).astimezone(UTC)


def all_day_dates(session: Session, zone: ZoneInfo) -> tuple[dt.date, dt.date] | None:
    """The ``(start date, exclusive end date)`` of a session spanning whole days in
    ``zone`` (both bounds are day starts); None for any other session."""
    first = session.starts_at.astimezone(zone).date()
    end = session.ends_at.astimezone(zone).date()
    if end <= first:
        return None
    if day_start(first, zone) != session.starts_at or day_start(end, zone) != session.ends_at:
        return None
    return first, end


def is_all_day(event: dict[str, Any]) -> bool:
    return "date" in (event.get("start") or {})


def event_id_for(session: Session) -> str:
    """A stable event id for a session: base32hex (``[a-v0-9]``, as Google requires
    of client-chosen ids) of a hash of the user, row id and creation time."""
    seed = f"workhorse-session:{session.user_id}:{session.id}:{session.created_at.isoformat()}"
    digest = hashlib.sha256(seed.encode()).digest()[:20]
    return base64.b32hexencode(digest).decode().lower()


def event_body(
    session: Session, zone: ZoneInfo, days: tuple[dt.date, dt.date] | None = None
) -> dict[str, Any]:
    """The event fields a session owns, for an insert: timed in ``zone``, or all-day
    over ``days`` (the session's :func:`all_day_dates`) when given."""
    body: dict[str, Any] = {
        "summary": session.title,
        "description": session.description,
        "location": session.location,
    }
    if days is not None:
        body["start"], body["end"] = {"date": days[0].isoformat()}, {"date": days[1].isoformat()}
    else:
        body["start"] = {"dateTime": rfc3339(session.starts_at, zone), "timeZone": zone.key}
        body["end"] = {"dateTime": rfc3339(session.ends_at, zone), "timeZone": zone.key}
    return body


def patch_body(
    session: Session, zone: ZoneInfo, days: tuple[dt.date, dt.date] | None = None
) -> dict[str, Any]:
    """:func:`event_body` for a patch.  Google merges the ``start`` / ``end`` objects
    of a patch into the event's, so the other kind of time is cleared with a null:
    an all-day event whose session was moved to 10:00 must lose its ``date``."""
    body = event_body(session, zone, days)
    cleared = "date" if days is None else "dateTime"
    for part in ("start", "end"):
        body[part] = {**body[part], cleared: None}
    return body


def session_fields(event: dict[str, Any], zone: ZoneInfo) -> SessionFields:
    """The session fields of an event: a timed one at its instants, an all-day one
    from the start of its first day to the start of its (exclusive) end date in
    ``zone``."""
    start, end = event.get("start") or {}, event.get("end") or {}
    if "date" in start and "date" in end:
        starts_at = day_start(dt.date.fromisoformat(start["date"]), zone)
        ends_at = day_start(dt.date.fromisoformat(end["date"]), zone)
    else:
        starts_at, ends_at = parse_time(start["dateTime"]), parse_time(end["dateTime"])
    return {
        "title": str(event.get("summary") or "(no title)")[:300],
        "description": str(event.get("description") or ""),
        "location": str(event.get("location") or "")[:300],
        "starts_at": starts_at,
        "ends_at": ends_at,
    }


def remote_updated(event: dict[str, Any]) -> dt.datetime | None:
    raw = event.get("updated")
    return parse_time(raw) if isinstance(raw, str) else None
