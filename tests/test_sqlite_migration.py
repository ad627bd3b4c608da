"""A file written by an older Workhorse is migrated forward on open, keeping what it
holds: every version from 1 up to the current one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from workhorse import Job, Queue, Worker
from workhorse.store.sqlite import SqliteStore
from workhorse.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, _statements


def write_old_file(path: Path, version: int) -> None:
    """A database exactly as Workhorse left it at schema ``version``, with one paused
    queue in it."""
    conn = sqlite3.connect(path)
    try:
        for step in range(version):
            for statement in _statements(MIGRATIONS[step]):
                conn.execute(statement)
        conn.execute(
            "INSERT INTO workhorse_meta (key, value) VALUES ('schema', 'workhorse'), "
            "('version', ?)",
            (str(version),),
        )
        conn.execute("INSERT INTO queues (name, known, paused) VALUES ('old', 1, 1)")
        conn.commit()
    finally:
        conn.close()


async def _double(job: Job) -> int:
    return int(job.data) * 2


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
async def test_an_old_file_is_migrated_and_keeps_its_data(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.db"
    write_old_file(path, version)
    store = SqliteStore(path)
    try:
        old = Queue("old", store)
        assert await old.is_paused()  # the stored row survived the migration
        fresh = Queue("fresh", store)
        job = await fresh.add("double", 21)
        await Worker(fresh, _double).run(burst=True)
        done = await fresh.get_job(job.id)
        assert done is not None
        assert done.returnvalue == 42
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        meta = dict(conn.execute("SELECT key, value FROM workhorse_meta").fetchall())
    finally:
        conn.close()
    assert meta["version"] == str(SCHEMA_VERSION)
