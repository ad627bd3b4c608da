"""Fixtures of the reference application's tests: a fresh domain database on each
kind the package supports (SQLite in a temporary directory, and a database of its
own on the local PostgreSQL, dropped afterwards); the local Google server and the
calendar sync tests' world."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.reference.calendar_server import CalendarServer
from tests.reference.calendar_world import World, make_world
from workhorse.store.sqlite import SqliteStore
from workhorse_reference.domain.db import Database

PG_ADMIN_URL = os.environ.get("WORKHORSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A created, empty SQLite domain database (where the kind does not matter)."""
    database = Database(f"sqlite:///{tmp_path / 'reference.db'}")
    await database.create()
    yield database
    await database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A created, empty domain database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'reference.db'}")
        await database.create()
        yield database
        await database.close()
        return
    name = f"wh_test_{uuid.uuid4().hex[:12]}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except OSError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    database = Database(f"{base}/{name}")
    try:
        await database.create()
        yield database
    finally:
        await database.close()
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def google() -> AsyncIterator[CalendarServer]:
    async with CalendarServer().running() as server:
        yield server


@pytest.fixture
async def world(db: Database, google: CalendarServer, tmp_path: Path) -> AsyncIterator[World]:
    store = SqliteStore(tmp_path / "jobs.db")
    try:
        async for w in make_world(db, google, store):
            yield w
    finally:
        await store.close()
