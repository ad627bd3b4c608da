"""One connection to the database file, and how the event loop uses it.

``sqlite3`` calls block.  Each store owns one connection and a single-thread
executor, and runs every call in one of two ways:

* **inline**, on the event loop's thread, when the connection is free and SQLite's
  lock can be had at once (busy timeout 0).  A state change is one short
  transaction (tens of microseconds), far cheaper than a hand-off to a thread and
  back, and free of GIL ping-pong with a busy event loop.
* **on the store's thread** otherwise: when another connection (another process,
  or the lock keeper's) holds the write lock, the call waits there, up to the busy
  timeout, while the loop runs on; large calls (bulk adds) always go there.

WAL checkpoints never run inline: automatic checkpoints are off and the store's
thread runs a passive checkpoint, on a second connection so that writers go on,
about every ``CHECKPOINT_EVERY`` commits.  A store used
from another thread or event loop gets its own connection through ``clone()``;
SQLite's file locks keep all of them consistent.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from workhorse.errors import StoreUnavailable
from workhorse.store.sqlite.schema import open_connection
from workhorse.store.sqlite.tx import Tx
from workhorse.store.sqlite.wake import WAKE_EVENTS, WAKE_READY, Poker

T = TypeVar("T")
CHECKPOINT_EVERY = 200
_BUSY = ("locked", "busy")
_TRANSIENT = ("unable to open", "disk i/o", "readonly", "full")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return any(word in text for word in _BUSY)


class Database:
    def __init__(self, path: Path, busy_timeout: float, synchronous: str) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="workhorse-sqlite")
        self._lock = threading.Lock()  # whoever runs statements on the connection
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._thread_job: Future[Any] | None = None
        self._busy_ms = -1
        self._commits = 0
        self._poker = Poker()
        self._closed = False

    # ---- running code on the connection -----------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any, inline: bool = True) -> T:
        """Run ``fn(*args)`` with the connection to itself (see the module doc)."""
        while inline and self._conn is not None:
            if self._closed:
                break
            if self._lock.acquire(blocking=False):
                try:
                    self._set_busy(0)
                    return self._guarded(fn, *args)
                except _Busy:
                    break  # another connection holds SQLite's lock: wait on our thread
                finally:
                    self._lock.release()
            # Our thread has the connection (a call waiting for SQLite's lock, or a
            # bulk add): wait for it without blocking the loop, then try again
            # inline, rather than queue behind it and keep the thread busy.
            busy = self._thread_job
            if busy is None or busy.done():
                break
            await asyncio.wait([asyncio.wrap_future(busy)])
        if self._closed:
            raise StoreUnavailable(f"SQLite store at {self.path} is closed")
        job = self._executor.submit(self._in_thread, fn, *args)
        self._thread_job = job
        return await asyncio.wrap_future(job)

    def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            self.conn()
            self._set_busy(round(self.busy_timeout * 1000))
            try:
                return self._guarded(fn, *args)
            except _Busy as exc:
                raise StoreUnavailable(
                    f"SQLite store at {self.path}: {exc.__cause__} (another process held the "
                    f"write lock for more than {self.busy_timeout:g} s)"
                ) from exc.__cause__

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise _Busy from exc
            if any(word in str(exc).lower() for word in _TRANSIENT):
                raise StoreUnavailable(f"SQLite store at {self.path}: {exc}") from exc
            raise

    def _set_busy(self, ms: int) -> None:
        assert self._conn is not None
        if ms != self._busy_ms:
            self._conn.execute(f"PRAGMA busy_timeout = {int(ms)}")
            self._busy_ms = ms

    def conn(self) -> sqlite3.Connection:
        """The connection (opened on first use, on the store's thread)."""
        if self._conn is None:
            self._conn = open_connection(self.path, self.busy_timeout, self.synchronous)
            self._busy_ms = -1
        return self._conn

    # ---- transactions -----------------------------------------------------------
    def write(self, queue: str, now: int, maxlen: int, op: Callable[..., T], *args: Any) -> T:
        """Run ``op(tx, *args)`` as one write transaction, then wake who should know."""
        conn = self.conn()
        tx = Tx(conn, queue, now, maxlen)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = op(tx, *args)
            tx.finish()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        for t in tx.all():
            if t.listeners:
                self._wake(t)
        # Checkpoint about every CHECKPOINT_EVERY small commits' worth of pages.
        before = self._commits
        self._commits += 1 + len(tx.events) // 32
        if self._commits // CHECKPOINT_EVERY != before // CHECKPOINT_EVERY:
            self._schedule_checkpoint()
        return result

    def read(self, queue: str, now: int, op: Callable[..., T], *args: Any) -> T:
        """Run ``op(tx, *args)`` in one read transaction (a consistent snapshot)."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            return op(Tx(conn, queue, now, 0), *args)
        finally:
            conn.execute("COMMIT")

    def _schedule_checkpoint(self) -> None:
        if not self._closed:
            with contextlib.suppress(RuntimeError):  # executor shut down meanwhile
                self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file, on a connection of its own so that
        writers go on meanwhile (a passive checkpoint never blocks them)."""
        with contextlib.suppress(sqlite3.Error):
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    str(self.path), timeout=self.busy_timeout, isolation_level=None
                )
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # ---- wake-ups ---------------------------------------------------------------
    def _wake(self, tx: Tx) -> None:
        ready = WAKE_READY if tx.wake else None
        if ready is None and tx.wake_at is not None:
            ready = b"d%d" % tx.wake_at
        dead: list[str] = []
        for kind, addr in tx.listeners:
            payload = ready if kind == "w" else (WAKE_EVENTS if tx.events else None)
            if payload is not None and not self._poker.poke(addr, payload):
                dead.append(addr)
        if dead:
            self.forget_listeners(dead)

    def wake_workers(self, queue: str) -> None:
        rows = (
            self.conn()
            .execute("SELECT addr FROM listeners WHERE queue = ? AND kind = 'w'", (queue,))
            .fetchall()
        )
        dead = [a for (a,) in rows if not self._poker.poke(a, WAKE_READY)]
        if dead:
            self.forget_listeners(dead)

    def forget_listeners(self, addrs: list[str]) -> None:
        """Delete registrations of sleepers that are gone (their process died).  Best
        effort: it runs after a commit, which must not look failed because of it."""
        conn = self.conn()
        with contextlib.suppress(sqlite3.Error):  # the next writer tries again
            conn.executemany("DELETE FROM listeners WHERE addr = ?", [(a,) for a in addrs])

    def register_listener(self, queue: str, kind: str, addr: str, pid: int, now: int) -> None:
        self.conn().execute(
            "INSERT OR REPLACE INTO listeners (addr, queue, kind, pid, since) "
            "VALUES (?, ?, ?, ?, ?)",
            (addr, queue, kind, pid, now),
        )

    # ---- lifecycle --------------------------------------------------------------
    def _close_conn(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            self._poker.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._close_conn)
        finally:
            self._executor.shutdown(wait=False)

    def close_sync(self) -> None:
        """Close from outside an event loop (e.g. a test's teardown)."""
        if self._closed:
            return
        self._closed = True
        self._executor.submit(self._close_conn).result()
        self._executor.shutdown(wait=True)


class _Busy(Exception):
    """SQLite's lock is held by another connection (retried on the store's thread)."""
