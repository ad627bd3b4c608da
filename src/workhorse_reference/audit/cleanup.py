"""Deleting old audit entries in batches.

Each batch is one short transaction deleting at most ``batch`` rows by id, so locks
are held briefly and the table stays usable while a large clean-up runs.  Running it
again, or twice at once, deletes nothing twice: rows are chosen by age at each
batch, and a batch that finds its rows already gone deletes none of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select

from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import AuditEntry

#: ``await progress(deleted_so_far, total_to_delete)`` after each batch.
Progress = Callable[[int, int], Awaitable[None]]
DEFAULT_BATCH = 1_000


async def delete_older_than(
    db: Database,
    cutoff: dt.datetime,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> int:
    """Delete the entries with ``at`` before ``cutoff``; returns how many this call
    deleted."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    old = AuditEntry.at < cutoff
    async with db.session() as s:
        total = int(await s.scalar(select(func.count(AuditEntry.id)).where(old)) or 0)
    deleted = 0
    while True:
        ids = select(AuditEntry.id).where(old).order_by(AuditEntry.id).limit(batch)
        async with db.session() as s:
            found = list((await s.scalars(ids)).all())
            if not found:
                return deleted
            gone = delete(AuditEntry).where(AuditEntry.id.in_(found))
            done = cast(CursorResult[Any], await s.execute(gone))
        deleted += done.rowcount
        if progress is not None:
            await progress(deleted, max(total, deleted))
