"""The audit log in the domain database's ``audit_entries`` table, for
``create_app(audit=SqlAuditLog(db))``: dashboard and admin actions land beside the
job lifecycle entries and are cleaned up by the ``audit-cleanup`` job."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from workhorse.app import audit
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import AuditEntry

UTC = dt.UTC


def clip(value: str, column: str) -> str:
    """``value`` cut to the column's length (PostgreSQL refuses a longer value, SQLite
    would keep it), so an over-long job id cannot fail the action being audited."""
    length = getattr(AuditEntry.__table__.c[column].type, "length", None)
    if length is None or len(value) <= length:
        return value
    return value[: length - 1] + "…"


def to_row(entry: audit.AuditEntry) -> AuditEntry:
    return AuditEntry(
        at=dt.datetime.fromtimestamp(entry.at, UTC),
        actor=clip(entry.actor, "actor"),
        action=clip(entry.action, "action"),
        target=clip(entry.target, "target"),
        detail=dict(entry.detail),
    )


class SqlAuditLog:
    """:class:`workhorse.app.audit.AuditLog` over the ``audit_entries`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, entry: audit.AuditEntry) -> None:
        async with self.db.session() as s:
            s.add(to_row(entry))

    async def recent(self, limit: int = 100) -> list[audit.AuditEntry]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        async with self.db.session() as s:
            rows = (await s.scalars(query.limit(limit))).all()
        return [
            audit.AuditEntry(
                actor=row.actor,
                action=row.action,
                target=row.target,
                detail=dict(row.detail),
                at=row.at.timestamp(),
            )
            for row in rows
        ]
