"""Two-way sync of a user's sessions with their Google Calendar.

One sync pulls, then pushes.

**Pull.**  With the link's ``sync_token``, ``events.list`` returns only what
changed since the last sync (deleted events included); without one -- the first
sync, or after Google answered 410 Gone because the token expired -- every event is
listed again (``showDeleted=true``), page by page.  Each page is applied in one
transaction and the new ``nextSyncToken`` is stored with the last page, so an
interrupted pull restarts from the previous token and applies the same changes
again harmlessly.  For each event:

- an event we do not know is **imported as a new session** of the user (the user's
  calendar is the other half of their schedule, and sessions booked directly in
  Google Calendar should appear in the application); an all-day event becomes a
  session over its whole days in the user's time zone (see :mod:`.events`);
- a cancelled (deleted) event cancels its session (``status = "cancelled"``; the
  row stays so exports and history keep it);
- a changed event updates the session's title, description, location, start and
  end -- unless the conflict rule below keeps the local version;
- an event whose ``etag`` is the one we stored is our own write coming back, and is
  skipped.

After a full listing, linked sessions whose event is absent altogether (deleted
long ago on Google's side) are cancelled too.

**Push.**  Sessions changed locally since their last sync (``updated_at >
synced_at``, or never synced) are sent: a new session is inserted (with an event id
derived from the session, so a retried insert finds its own event instead of
creating a second one), a changed one is patched (``If-Match`` its etag: a 412 means
the event changed after our pull, and the job is retried, pulling it first), a
deleted (``deleted_at``) or cancelled one has its event deleted.  Series
definitions (sessions with an ``rrule``) are not events; their generated
occurrences are.  A session edited while its push was in flight stays pending for
the next sync.

**Time zones.**  Events are written in the user's time zone (``User.timezone``, an
IANA name): ``dateTime`` with its offset and ``timeZone``.  A user whose zone is not
a known IANA name is not synced (the job fails without retry, saying so) rather
than have events written in, and all-day events placed in, a guessed zone.  A
session is inserted as a timed event; one spanning whole local days whose event is
an all-day event is patched back as all-day (``date`` fields): the schema cannot
tell, so the event is read first, one extra call for such sessions only.

**Conflict rule** -- both sides changed the same session since the last sync:

1. *A deletion wins over an edit*, on either side: a session cancelled or deleted
   locally has its event deleted even if the event was edited in Google Calendar;
   an event deleted in Google Calendar cancels the session even if it was edited
   locally.  Nothing deleted comes back by surprise.
2. Otherwise *the most recent change wins*: the event's ``updated`` against the
   session's ``updated_at``.  When the event is newer, its fields replace the local
   edit; when the session is newer, the event is patched with the session's fields.
   An exact tie goes to Google.  Both clocks are assumed to be roughly right; a
   skew only matters for edits made within that skew of each other.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from workhorse.errors import UnrecoverableError
from workhorse_reference.calendar.client import CalendarApi, Duplicate, Event, Gone
from workhorse_reference.calendar.events import (
    all_day_dates,
    event_body,
    event_id_for,
    is_all_day,
    patch_body,
    remote_updated,
    session_fields,
)
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import CalendarLink, Session, User
from workhorse_reference.domain.types import utcnow

log = logging.getLogger("workhorse_reference.calendar")
Report = Callable[[float, str], Awaitable[None]]


@dataclass
class Pulled:
    created: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass
class Pushed:
    inserted: int = 0
    patched: int = 0
    deleted: int = 0


@dataclass
class SyncResult:
    pulled: Pulled = field(default_factory=Pulled)
    pushed: Pushed = field(default_factory=Pushed)
    full_resync: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "pulled": asdict(self.pulled),
            "pushed": asdict(self.pushed),
            "fullResync": self.full_resync,
        }


def pending(row: Session) -> bool:
    """Changed locally since its last sync (or never synced)."""
    return row.synced_at is None or row.updated_at > row.synced_at


def removed(row: Session) -> bool:
    return row.deleted_at is not None or row.status == "cancelled"


def _mark_synced(row: Session, now: dt.datetime) -> None:
    row.synced_at = row.updated_at = now


class CalendarSync:
    """Pull then push for one user's calendar; counts in :attr:`result`."""

    def __init__(
        self, db: Database, api: CalendarApi, user_id: str, page_size: int, report: Report
    ) -> None:
        self.db = db
        self.api = api
        self.user_id = user_id
        self.page_size = page_size
        self.report = report
        self.result = SyncResult()
        self._zone: ZoneInfo | None = None

    async def zone(self) -> ZoneInfo:
        """The user's time zone (read once).  :class:`UnrecoverableError` when it is
        not a known IANA name."""
        if self._zone is None:
            async with self.db.session() as s:
                name = await s.scalar(select(User.timezone).where(User.id == self.user_id))
            try:
                self._zone = ZoneInfo(name or "")
            except (ZoneInfoNotFoundError, ValueError):
                raise UnrecoverableError(
                    f"user {self.user_id!r} has the unknown time zone {name!r}: set an IANA "
                    "name such as Europe/Paris to sync their calendar"
                ) from None
        return self._zone

    # ---- pull -----------------------------------------------------------------------
    async def pull(self, sync_token: str | None) -> None:
        await self.zone()  # an unknown zone fails before anything is read
        self.result.full_resync = sync_token is None
        try:
            await self._pull_pages(sync_token)
        except Gone:
            log.info("user %s: sync token expired (410), listing every event", self.user_id)
            await self._store_sync_token(None)
            self.result.full_resync = True
            await self._pull_pages(None)

    async def _pull_pages(self, sync_token: str | None) -> None:
        seen: set[str] = set()
        page_token: str | None = None
        number = 0
        while True:
            page = await self.api.list_events(
                sync_token=sync_token, page_token=page_token, page_size=self.page_size
            )
            number += 1
            seen.update(e["id"] for e in page.items)
            async with self.db.session() as s:
                await self._apply_page(s, page.items)
                if page.next_page_token is None and sync_token is None:
                    await self._cancel_missing(s, seen)
                if page.next_sync_token is not None:
                    await s.execute(self._link_update(sync_token=page.next_sync_token))
            await self.report(
                100 * (1 - 0.5**number), f"page {number}: {len(page.items)} changed events"
            )
            if page.next_page_token is None:
                return
            page_token = page.next_page_token

    async def _apply_page(self, s: AsyncSession, items: list[Event]) -> None:
        ids = [e["id"] for e in items]
        query = select(Session).where(
            Session.user_id == self.user_id, Session.google_event_id.in_(ids)
        )
        rows = {r.google_event_id: r for r in (await s.scalars(query.with_for_update()))}
        unknown = [i for i in ids if i not in rows]
        if unknown:
            rows.update(await self._unrecorded_inserts(s, unknown))
        zone = await self.zone()
        for event in items:
            self._apply(s, event, rows.get(event["id"]), zone)

    async def _unrecorded_inserts(
        self, s: AsyncSession, event_ids: Iterable[str]
    ) -> dict[str, Session]:
        """Sessions whose insert reached Google but whose event id was never stored
        (the attempt died in between): linked now instead of imported twice."""
        query = select(Session).where(
            Session.user_id == self.user_id,
            Session.google_event_id.is_(None),
            Session.rrule.is_(None),
        )
        by_id = {event_id_for(r): r for r in await s.scalars(query.with_for_update())}
        found = {i: by_id[i] for i in event_ids if i in by_id}
        for event_id, row in found.items():
            row.google_event_id = event_id
        return found

    def _apply(self, s: AsyncSession, event: Event, row: Session | None, zone: ZoneInfo) -> None:
        now = utcnow()
        if event.get("status") == "cancelled":
            self._apply_deletion(event, row, now)
            return
        fields = session_fields(event, zone)
        if row is None:
            s.add(
                Session(
                    user_id=self.user_id,
                    **fields,
                    google_event_id=event["id"],
                    google_etag=event.get("etag"),
                    synced_at=now,
                    updated_at=now,
                )
            )
            self.result.pulled.created += 1
            return
        if row.google_etag == event.get("etag"):
            return
        row.google_etag = event.get("etag")
        if self._local_wins(row, event):
            return  # the new etag lets the push overwrite this version of the event
        for name, value in fields.items():
            setattr(row, name, value)
        row.status = "scheduled"
        _mark_synced(row, now)
        self.result.pulled.updated += 1

    @staticmethod
    def _local_wins(row: Session, event: Event) -> bool:
        """The conflict rule (see the module's documentation) for a changed event."""
        if row.deleted_at is not None:
            return True  # deleted here: its push deletes the event again
        if not pending(row):
            return False
        if removed(row):
            return True
        remote = remote_updated(event)
        return remote is None or row.updated_at > remote

    def _apply_deletion(self, event: Event, row: Session | None, now: dt.datetime) -> None:
        if row is None:
            return  # never ours, or deleted before we saw it
        if not removed(row):
            row.status = "cancelled"
            self.result.pulled.deleted += 1
        row.google_etag = event.get("etag")
        _mark_synced(row, now)

    async def _cancel_missing(self, s: AsyncSession, seen: set[str]) -> None:
        """After a full listing: linked live sessions whose event is not in the
        calendar at all any more."""
        query = select(Session).where(
            Session.user_id == self.user_id,
            Session.google_event_id.is_not(None),
            Session.deleted_at.is_(None),
            Session.status != "cancelled",
        )
        now = utcnow()
        for row in await s.scalars(query.with_for_update()):
            if row.google_event_id not in seen:
                row.status = "cancelled"
                _mark_synced(row, now)
                self.result.pulled.deleted += 1

    # ---- push -----------------------------------------------------------------------
    async def push(self) -> None:
        query = (
            select(Session)
            .where(
                Session.user_id == self.user_id,
                Session.rrule.is_(None),
                or_(Session.synced_at.is_(None), Session.updated_at > Session.synced_at),
            )
            .order_by(Session.id)
        )
        async with self.db.session() as s:
            rows = list(await s.scalars(query))
        for done, row in enumerate(rows, 1):
            await self._push(row)
            await self.report(100 * done / len(rows), f"{done} of {len(rows)} sessions sent")
        if not rows:
            await self.report(100, "nothing to send")

    async def _push(self, row: Session) -> None:
        pushed = self.result.pushed
        if removed(row):
            if row.google_event_id is not None and await self.api.delete(row.google_event_id):
                pushed.deleted += 1
            await self._record(row)
        elif row.google_event_id is None:
            event = await self._insert(row)
            if event is not None:
                await self._record(row, google_event_id=event["id"], google_etag=event["etag"])
                pushed.inserted += 1
        else:
            zone = await self.zone()
            body = patch_body(row, zone, await self._all_day(row, row.google_event_id, zone))
            event = await self.api.patch(row.google_event_id, body, row.google_etag)
            if event is None:
                await self._gone(row, row.google_event_id)
            else:
                await self._record(row, google_etag=event["etag"])
                pushed.patched += 1

    async def _insert(self, row: Session) -> Event | None:
        """Insert the session's event; when its id is taken, an earlier attempt
        inserted it: bring that event up to date instead.  None when that event has
        been deleted since (the session is then cancelled)."""
        event_id = event_id_for(row)
        zone = await self.zone()
        try:
            return await self.api.insert({"id": event_id, **event_body(row, zone)})
        except Duplicate:
            log.info("session %s: event %s exists from an earlier attempt", row.id, event_id)
        existing = await self.api.get(event_id)
        if existing is not None and existing.get("status") != "cancelled":
            event = await self.api.patch(event_id, patch_body(row, zone), existing.get("etag"))
            if event is not None:
                return event
        await self._gone(row, event_id)
        return None

    async def _all_day(
        self, row: Session, event_id: str, zone: ZoneInfo
    ) -> tuple[dt.date, dt.date] | None:
        """The dates to patch the session's event with as an all-day event; None to
        patch it as a timed one.  Only a session spanning whole local days can be
        all-day, and only if its event is: a day-long timed event stays timed."""
        days = all_day_dates(row, zone)
        if days is None:
            return None
        event = await self.api.get(event_id)
        return days if event is not None and is_all_day(event) else None

    async def _gone(self, row: Session, event_id: str) -> None:
        """The session's event was deleted in Google Calendar: a deletion wins."""
        await self._record(row, google_event_id=event_id, status="cancelled")
        self.result.pulled.deleted += 1

    async def _record(self, row: Session, **values: Any) -> None:
        """Store a push's outcome.  The row counts as synced only if nobody changed it
        since it was read; otherwise its new change stays pending."""
        now = utcnow()
        async with self.db.session() as s:
            done = await s.execute(
                update(Session)
                .where(Session.id == row.id, Session.updated_at == row.updated_at)
                .values(**values, synced_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                await s.execute(
                    update(Session)
                    .where(Session.id == row.id)
                    .values(**values, updated_at=Session.updated_at)
                    .execution_options(synchronize_session=False)
                )

    # ---- the link -------------------------------------------------------------------
    def _link_update(self, **values: Any) -> Any:
        return update(CalendarLink).where(CalendarLink.user_id == self.user_id).values(**values)

    async def _store_sync_token(self, token: str | None) -> None:
        async with self.db.session() as s:
            await s.execute(self._link_update(sync_token=token))
