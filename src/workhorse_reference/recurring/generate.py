"""Generating the occurrences of recurring sessions into the database.

A series is a session with an ``rrule``, no ``series_id``, status ``scheduled`` and
not deleted.  Each occurrence becomes a session row with ``series_id`` and
``occurrence_start`` set and the series' title, description, location and
duration.  The unique constraint ``uq_session_occurrence`` is the guard against
duplicates: rows are inserted with ``ON CONFLICT DO NOTHING`` (SQLite and
PostgreSQL), so a retried job, or two runs at once, create each occurrence once and
count the others as skipped.

A series whose rule cannot be expanded does not stop the run: it is reported in the
result's ``errors`` (series id, user id, message) and the other series go on.  Its
fix is a data fix, which a retry would not bring, so the job still completes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Session, User
from workhorse_reference.domain.types import utcnow
from workhorse_reference.recurring.rules import RuleError, occurrences

#: ``await progress(series_done, series_total)`` after each page of series.
Progress = Callable[[int, int], Awaitable[None]]

DEFAULT_HORIZON = dt.timedelta(days=90)
#: At most this many occurrences of one series per run (a daily rule over a year).
MAX_PER_SERIES = 400
#: Series per page: read, expanded and inserted in one transaction, then reported.
PAGE_SIZE = 50


class UnknownUser(LookupError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"userId: no user {user_id!r} in the domain database")
        self.user_id = user_id


@dataclass(slots=True)
class GenerationResult:
    """``created`` occurrences inserted, ``skipped`` ones that already existed, over
    ``series`` series; ``errors`` lists the series that could not be expanded."""

    created: int = 0
    skipped: int = 0
    series: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "skipped": self.skipped,
            "series": self.series,
            "errors": list(self.errors),
        }


async def generate(
    db: Database,
    *,
    user_id: str | None = None,
    now: dt.datetime | None = None,
    horizon: dt.timedelta = DEFAULT_HORIZON,
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
) -> GenerationResult:
    """Create the missing occurrences starting in ``[now, now + horizon)`` of every
    series of ``user_id`` (every user's when None).  :class:`UnknownUser` when that
    user does not exist.  Series are read ``page_size`` at a time by id; each page's
    occurrences are inserted in one transaction, then ``progress`` is called."""
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    now = now or utcnow()
    if user_id is not None:
        await _check_user(db, user_id)
    total = await _count_series(db, user_id)
    result = GenerationResult()
    last_id = 0
    while True:
        page = await _series_page(db, user_id, last_id, page_size)
        # In a thread: a rule that matches nothing (BYMONTH=2;BYMONTHDAY=30) makes
        # dateutil scan to year 9999 before it gives up, seconds of CPU.
        rows, errors = await asyncio.to_thread(_expand_page, page, now, now + horizon)
        await _insert(db, rows, result)
        result.errors.extend(errors)
        result.series += len(page)
        if progress is not None and page:
            await progress(result.series, max(total, result.series))
        if len(page) < page_size:
            return result
        last_id = page[-1].id


async def _check_user(db: Database, user_id: str) -> None:
    async with db.session() as s:
        if await s.get(User, user_id) is None:
            raise UnknownUser(user_id)


def _series_of(user_id: str | None) -> list[ColumnElement[bool]]:
    where = [
        Session.rrule.is_not(None),
        Session.series_id.is_(None),
        Session.status == "scheduled",
        Session.deleted_at.is_(None),
    ]
    return where if user_id is None else [*where, Session.user_id == user_id]


async def _count_series(db: Database, user_id: str | None) -> int:
    async with db.session() as s:
        count = select(func.count(Session.id)).where(*_series_of(user_id))
        return int(await s.scalar(count) or 0)


@dataclass(frozen=True, slots=True)
class _Series:
    id: int
    user_id: str
    timezone: str
    title: str
    description: str
    location: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    rrule: str | None  # never None: the query selects series only


async def _series_page(
    db: Database, user_id: str | None, after_id: int, size: int
) -> list[_Series]:
    """The next series by id (keyset paging: the run's memory stays bounded)."""
    query = (
        select(
            Session.id,
            Session.user_id,
            User.timezone,
            Session.title,
            Session.description,
            Session.location,
            Session.starts_at,
            Session.ends_at,
            Session.rrule,
        )
        .join(User, User.id == Session.user_id)
        .where(*_series_of(user_id), Session.id > after_id)
        .order_by(Session.id)
        .limit(size)
    )
    async with db.session() as s:
        return [_Series(*row) for row in (await s.execute(query)).all()]


def _expand_page(
    page: list[_Series], start: dt.datetime, end: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The occurrence rows of a page of series, and the series in error."""
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    created_at = utcnow()
    for series in page:
        try:
            starts = occurrences(
                series.rrule or "", series.starts_at, series.timezone, start, end, MAX_PER_SERIES
            )
        except RuleError as exc:
            errors.append({"seriesId": series.id, "userId": series.user_id, "error": str(exc)})
            continue
        duration = series.ends_at - series.starts_at
        rows.extend(
            {
                "user_id": series.user_id,
                "title": series.title,
                "description": series.description,
                "location": series.location,
                "starts_at": at,
                "ends_at": at + duration,
                "series_id": series.id,
                "occurrence_start": at,
                "status": "scheduled",
                "created_at": created_at,
                "updated_at": created_at,
            }
            for at in starts
        )
    return rows, errors


async def _insert(db: Database, rows: list[dict[str, Any]], result: GenerationResult) -> None:
    """One transaction per page of series: few commits, and locks held briefly."""
    if not rows:
        return
    async with db.session() as s:
        inserted = (await s.execute(_insert_new(db.dialect), rows)).all()
    result.created += len(inserted)
    result.skipped += len(rows) - len(inserted)


def _insert_new(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (series_id, occurrence_start) DO NOTHING RETURNING id:
    the ids returned are the rows this statement created.  One statement for every
    batch of rows, so it is compiled once and cached."""
    table = cast(Table, Session.__table__)
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(constraint="uq_session_occurrence")
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(
            index_elements=["series_id", "occurrence_start"]
        )
    else:
        raise ValueError(f"recurring sessions: unsupported database {dialect!r}")
    return stmt.returning(table.c.id)
