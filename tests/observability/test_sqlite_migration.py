"""A database file written by the previous schema (version 2) opens, is migrated to
the current one in place, and keeps its jobs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from workhorse.store.base import WorkerInfo
from workhorse.store.sqlite import SqliteStore
from workhorse.store.sqlite.schema import META_TABLE, MIGRATIONS, SCHEMA_VERSION, _statements


def write_v2_file(path: Path, created_at: int) -> None:
    """A version-2 file with one waiting job, as Workhorse 2 left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    for version in (0, 1):
        for statement in _statements(MIGRATIONS[version]):
            conn.execute(statement)
    conn.execute(
        f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema', 'workhorse'), ('version', '2')"
    )
    conn.execute("INSERT INTO queues (name, known, seq, last_id) VALUES ('old', 1, 1, 1)")
    conn.execute("INSERT INTO counts (queue, state, n) VALUES ('old', 'waiting', 1)")
    conn.execute(
        "INSERT INTO jobs (queue, id, state, rank, name, data, opts, ts) "
        "VALUES ('old', '1', 'waiting', 1, 'legacy', '{\"n\": 1}', '{}', ?)",
        (created_at,),
    )
    conn.close()


def version_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'version'").fetchone()
        return int(row[0])
    finally:
        conn.close()


async def test_a_version_2_file_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    created = 1_700_000_000_000
    write_v2_file(path, created)
    store = SqliteStore(path, clock=lambda: created + 4_000)
    try:
        assert await store.oldest_ready_at("old") == created  # no ready time: its creation
        taken, _ = await store.fetch("old", "tok", [], 1, 10_000)
        assert [(j.id, j.name, j.data) for j in taken] == [("1", "legacy", {"n": 1})]
        [active] = [e for e in await store.read_events("old", "0") if e.event == "active"]
        assert active.fields["wait_ms"] == "4000"
        worker = WorkerInfo("w", "h", 1, ("old",), 1, 1, created, created)
        await store.register_worker(worker, 10_000)
        assert [w.id for w in await store.workers()] == ["w"]
    finally:
        await store.close()
    assert version_of(path) == SCHEMA_VERSION
