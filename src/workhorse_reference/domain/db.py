"""The domain database: an async SQLAlchemy engine on SQLite (default, a file beside
the embedded store) or PostgreSQL, and its schema version.

URLs may be given in their plain form (``sqlite:///path.db``,
``postgresql://user@host/db``); the async driver (aiosqlite, asyncpg) is filled in.
The schema carries a version number in ``schema_version``: a fresh database is
created at :data:`SCHEMA_VERSION`; a database written by a newer release is refused
rather than misread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, mapped_column

from workhorse_reference.domain.models import Base

SCHEMA_VERSION = 1
DEFAULT_URL = "sqlite:///.workhorse/reference.db"
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class SchemaVersion(Base):
    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this code knows."""


def async_url(url: str) -> str:
    """``url`` with the async driver this package uses for its database kind."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        if parsed.drivername in _DRIVERS.values():
            return url
        raise ValueError(
            f"domain database URL {url!r}: use sqlite:///path.db or postgresql://user@host/db"
        )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """The engine and a session factory.  Call :meth:`create` once at start."""

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self.url = async_url(url)
        self.engine: AsyncEngine = create_async_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            path = make_url(self.url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def create(self) -> None:
        """Create the tables of a fresh database, or check an existing one's version."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await self._check_version(conn)

    @staticmethod
    async def _check_version(conn: AsyncConnection) -> None:
        found = (await conn.execute(select(SchemaVersion.version))).scalars().all()
        if not found:
            await conn.execute(insert(SchemaVersion).values(version=SCHEMA_VERSION))
            return
        version = max(found)
        if version != SCHEMA_VERSION:
            raise SchemaMismatch(
                f"the domain database has schema version {version}, this code knows "
                f"version {SCHEMA_VERSION}: "
                + (
                    "upgrade workhorse"
                    if version > SCHEMA_VERSION
                    else "recreate the database (no migration from that version exists)"
                )
            )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def close(self) -> None:
        await self.engine.dispose()
