"""Behaviour of the embedded SQLite store that the contract suite does not cover:
opening files (and refusing the wrong ones), URLs, clones, event positions and
trimming, wake-ups across store instances, and waiting for another connection's lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workhorse import Job, JobState, Queue, Worker
from workhorse.errors import StoreUnavailable
from workhorse.store import connect
from workhorse.store.sqlite import NotAWorkhorseDatabase, SqliteStore
from workhorse.store.sqlite.schema import SCHEMA_VERSION


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "wh.db")
    yield store
    await store.close()


# ---- opening files --------------------------------------------------------------------
async def test_creates_missing_directories_and_a_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "jobs.db"
    store = SqliteStore(path)
    await store.ping()
    await store.close()
    conn = sqlite3.connect(path)
    try:
        meta = dict(conn.execute("SELECT key, value FROM workhorse_meta").fetchall())
        assert meta == {"schema": "workhorse", "version": str(SCHEMA_VERSION)}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


async def test_directory_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    store = SqliteStore(blocker / "jobs.db")
    with pytest.raises(StoreUnavailable, match=r"not-a-dir.*(directory|create)"):
        await store.ping()
    await store.close()


async def test_a_text_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("my notes, not a database\n" * 20)
    store = SqliteStore(path)
    with pytest.raises(NotAWorkhorseDatabase, match=r"notes\.db.*not an SQLite database"):
        await store.ping()
    await store.close()
    assert path.read_text() == "my notes, not a database\n" * 20


async def test_another_applications_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ann')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    store = SqliteStore(path)
    with pytest.raises(NotAWorkhorseDatabase, match=r"app\.db.*another application.*users"):
        await store.ping()
    await store.close()
    assert path.read_bytes() == before


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = SqliteStore(path)
    await store.ping()
    await store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE workhorse_meta SET value = '999' WHERE key = 'version'")
    conn.commit()
    conn.close()
    again = SqliteStore(path)
    with pytest.raises(NotAWorkhorseDatabase, match="newer Workhorse"):
        await again.ping()
    await again.close()


async def test_an_empty_file_becomes_a_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    store = SqliteStore(path)
    job = await Queue("q", store).add("x", 1)
    assert (await store.get_job("q", job.id)) is not None
    await store.close()


def test_memory_and_empty_paths_are_refused() -> None:
    for bad in (":memory:", ""):
        with pytest.raises(ValueError, match="file path"):
            SqliteStore(bad)


# ---- URLs -------------------------------------------------------------------------------
async def test_connect_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = connect(f"sqlite:///{tmp_path / 'abs.db'}")
    assert isinstance(absolute, SqliteStore)
    assert absolute.path == tmp_path / "abs.db"
    await absolute.close()

    monkeypatch.chdir(tmp_path)
    relative = connect("sqlite:///rel/jobs.db?synchronous=full")
    assert isinstance(relative, SqliteStore)
    assert relative.path == tmp_path / "rel" / "jobs.db"
    assert relative.synchronous == "FULL"
    await Queue("q", relative).add("x")
    assert (tmp_path / "rel" / "jobs.db").is_file()
    await relative.close()

    for bad in ("sqlite://", "sqlite:///", "sqlite:///x.db?colour=red"):
        with pytest.raises(ValueError, match="SQLite"):
            connect(bad)


# ---- clones and other threads -----------------------------------------------------------
async def test_clone_works_from_another_thread_and_loop(lite: SqliteStore) -> None:
    job = await Queue("q", lite).add("x", {"n": 1})
    clone = lite.clone()
    seen: list[object] = []

    def other_thread() -> None:
        async def main() -> None:
            found = await clone.get_job("q", job.id)
            seen.append(found.data if found else None)
            await clone.add("q2", [])
            await clone.close()

        asyncio.run(main())

    thread = threading.Thread(target=other_thread)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert seen == [{"n": 1}]


# ---- events -----------------------------------------------------------------------------
async def test_event_positions_order_as_strings_and_numbers(lite: SqliteStore) -> None:
    queue = Queue("q", lite)
    for i in range(12):
        await queue.add("x", i)
    events = await lite.read_events("q", "0")
    positions = [e.position for e in events]
    assert positions == sorted(positions)
    assert [int(p) for p in positions] == sorted(int(p) for p in positions)
    assert await lite.last_event_position("q") == positions[-1]
    assert await lite.read_events("q", positions[-1]) == []
    assert await lite.read_events("q", "$") == []
    assert [e.position for e in await lite.read_events("q", positions[5])] == positions[6:]
    with pytest.raises(ValueError, match="event position"):
        await lite.read_events("q", "yesterday")


async def test_event_stream_is_trimmed_to_about_maxlen(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db", events_maxlen=100)
    queue = Queue("q", store)
    other = Queue("other", store)
    await other.add("keep")
    for _ in range(10):
        await queue.add_bulk([("x", None) for _ in range(50)])
    events = await store.read_events("q", "0", count=10_000)
    assert 100 <= len(events) < 100 + 64 + 50
    assert events[-1].event == "added"
    assert len(await store.read_events("other", "0")) == 1, "other queues keep theirs"
    await store.close()


async def test_blocking_reader_is_woken_by_a_write_from_another_store(
    tmp_path: Path,
) -> None:
    a = SqliteStore(tmp_path / "w.db")
    b = SqliteStore(tmp_path / "w.db")
    reader = a.event_reader("q")
    start = await a.last_event_position("q")
    read = asyncio.create_task(reader.read(start, 10_000))
    await asyncio.sleep(0.1)
    t0 = time.monotonic()
    await Queue("q", b).add("hello")
    events = await asyncio.wait_for(read, 5)
    assert [e.event for e in events] == ["added"]
    assert time.monotonic() - t0 < 1
    # Closing the reader interrupts a read in progress at once.
    pending = asyncio.create_task(reader.read(events[-1].position, 10_000))
    await asyncio.sleep(0.05)
    await reader.close()
    assert await asyncio.wait_for(pending, 1) == []
    await a.close()
    await b.close()


# ---- wake-ups ---------------------------------------------------------------------------
async def test_idle_worker_is_woken_by_another_store_on_the_same_file(tmp_path: Path) -> None:
    worker_store = SqliteStore(tmp_path / "w.db")
    producer = SqliteStore(tmp_path / "w.db")
    got: asyncio.Queue[str] = asyncio.Queue()

    async def handler(job: Job) -> None:
        await got.put(job.name)

    worker = Worker(Queue("q", worker_store), handler, block_timeout=30)
    run = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)
    t0 = time.monotonic()
    await Queue("q", producer).add("now")
    assert await asyncio.wait_for(got.get(), 5) == "now"
    assert time.monotonic() - t0 < 1, "poked, not found by the 30 s timeout"
    await Queue("q", producer).add("soon", delay=0.2)
    assert await asyncio.wait_for(got.get(), 5) == "soon"
    await worker.close()
    await run
    await producer.close()
    await worker_store.close()


async def test_sleepers_of_dead_processes_are_forgotten(lite: SqliteStore) -> None:
    await lite._register_listener("q", "w", "@wh-nobody-listens-here")
    await lite._register_listener("q", "e", "@wh-nobody-reads-here")

    def listeners() -> list[str]:
        rows = lite._db.conn().execute("SELECT addr FROM listeners").fetchall()
        return sorted(r[0] for r in rows)

    assert len(await lite._db.call(listeners)) == 2
    await Queue("q", lite).add("x")
    assert await lite._db.call(listeners) == []


# ---- another connection holds the lock --------------------------------------------------
async def test_waits_for_another_connections_write_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.db"
    store = SqliteStore(path)
    await store.ping()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    add = asyncio.create_task(Queue("q", store).add("x"))
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0.02)
        ticks += 1
    assert ticks == 10 and not add.done(), "the loop runs on while the add waits"
    other.execute("COMMIT")
    job = await asyncio.wait_for(add, 5)
    assert await store.get_job("q", job.id) is not None
    other.close()
    await store.close()


async def test_a_lock_held_too_long_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "stuck.db"
    store = SqliteStore(path, busy_timeout=0.2)
    await store.ping()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable, match=r"stuck\.db.*lock"):
            await Queue("q", store).add("x")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await store.counts("q"))[JobState.WAITING] == 0
    await store.close()
