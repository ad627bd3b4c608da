"""Reading one user's rows from the domain database: counted first (for progress),
then streamed in batches -- a server-side cursor on PostgreSQL, an incremental cursor
on SQLite -- so an export never holds more than one batch of rows in memory."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sqlalchemy import select

from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import User
from workhorse_reference.exports.tables import Table


async def count_rows(db: Database, tables: Sequence[Table], user_id: str) -> dict[str, int]:
    """The number of ``user_id``'s rows in each table, by entity."""
    async with db.session() as session:
        return {t.entity: (await session.execute(t.count(user_id))).scalar_one() for t in tables}


async def user_label(db: Database, user_id: str) -> str:
    """``Name <e-mail>`` of the user, or their id when the domain does not know them."""
    async with db.session() as session:
        query = select(User.name, User.email).where(User.id == user_id)
        row = (await session.execute(query)).first()
    if row is None:
        return user_id
    return f"{row.name} <{row.email}>" if row.email else str(row.name)


async def stream_rows(
    db: Database, table: Table, user_id: str, batch_size: int
) -> AsyncGenerator[Sequence[Any], None]:
    """``user_id``'s rows of ``table``, ``batch_size`` at a time."""
    statement = table.select(user_id).execution_options(yield_per=batch_size)
    async with db.session() as session:
        result = await session.stream(statement)
        async for batch in result.partitions(batch_size):
            yield batch
