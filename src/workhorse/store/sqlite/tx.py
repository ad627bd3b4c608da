"""One write transaction of the embedded store, and the helpers every state change
shares (the counterpart of the Redis store's ``_prelude.lua``).

A :class:`Tx` is opened with ``BEGIN IMMEDIATE`` (the file's single write lock), the
operation runs its statements, then :meth:`Tx.finish` appends the buffered events,
writes back the queue's counters and reads who to wake, and the transaction commits.
Nothing is visible to other connections before the commit, and a process killed at
any point leaves either all of the change or none of it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence

import orjson

#: Prioritized jobs rank by priority first (at most 2^21), then by ready order.
PRIO_SHIFT = 1 << 40
HISTORY_KEPT = 20
#: Trim a queue's event stream when its positions cross a multiple of this (the
#: stream is kept at about ``events_maxlen``, like Redis ``MAXLEN ~``).
TRIM_EVERY = 64
_RETENTION = re.compile(r"^(-?\d+):(-?\d+)$")
STATES = ("waiting", "prioritized", "delayed", "active", "completed", "failed")
READY = ("prioritized", "waiting")


class Tx:
    """The state of one write transaction on one queue."""

    __slots__ = (
        "_last_id",
        "_seq",
        "conn",
        "events",
        "listeners",
        "maxlen",
        "now",
        "queue",
        "wake",
        "wake_at",
    )

    def __init__(self, conn: sqlite3.Connection, queue: str, now: int, maxlen: int) -> None:
        self.conn = conn
        self.queue = queue
        self.now = now
        self.maxlen = maxlen
        self.events: list[tuple[str, str, str, str]] = []
        self.wake = False  # jobs became ready: wake sleeping workers
        self.wake_at: int | None = None  # a delayed job falls due then
        self.listeners: list[tuple[str, str]] = []
        self._seq: int | None = None
        self._last_id: int | None = None

    # ---- queue row ----------------------------------------------------------------
    def ensure_queue(self, known: bool = False) -> None:
        """Create the queue's row (and its counters) if missing."""
        cur = self.conn.execute("INSERT OR IGNORE INTO queues (name) VALUES (?)", (self.queue,))
        if cur.rowcount:
            self.conn.executemany(
                "INSERT OR IGNORE INTO counts (queue, state, n) VALUES (?, ?, 0)",
                [(self.queue, s) for s in STATES],
            )
        if known:
            self.conn.execute(
                "UPDATE queues SET known = 1 WHERE name = ? AND known = 0", (self.queue,)
            )

    def _load_counters(self) -> None:
        row = self.conn.execute(
            "SELECT seq, last_id FROM queues WHERE name = ?", (self.queue,)
        ).fetchone()
        if row is None:
            self.ensure_queue()
            row = (0, 0)
        self._seq, self._last_id = int(row[0]), int(row[1])

    def next_id(self) -> str:
        if self._last_id is None:
            self._load_counters()
        assert self._last_id is not None
        self._last_id += 1
        return str(self._last_id)

    def ready_slot(self, prio: int) -> tuple[str, int]:
        """State and rank of a job made ready now: prioritized (by priority, then FIFO)
        or waiting (FIFO).  Sets the wake flag."""
        if self._seq is None:
            self._load_counters()
        assert self._seq is not None
        self._seq += 1
        self.wake = True
        if prio > 0:
            return "prioritized", prio * PRIO_SHIFT + self._seq
        return "waiting", self._seq

    def due_at(self, due: int) -> None:
        self.wake_at = due if self.wake_at is None else min(self.wake_at, due)

    # ---- events -----------------------------------------------------------------
    def emit(self, ev: str, job_id: str, **fields: object) -> None:
        payload = orjson.dumps({k: str(v) for k, v in fields.items()}).decode()
        self.events.append((self.queue, ev, job_id, payload))

    def finish(self) -> None:
        """Write what was buffered: events (and trim the stream), counters; read the
        listeners to wake after the commit."""
        conn = self.conn
        if self._seq is not None:
            conn.execute(
                "UPDATE queues SET seq = ?, last_id = ? WHERE name = ?",
                (self._seq, self._last_id, self.queue),
            )
        if self.events:
            conn.executemany(
                "INSERT INTO events (queue, ev, job, fields) VALUES (?, ?, ?, ?)", self.events
            )
            last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
            first = last - len(self.events) + 1
            if last // TRIM_EVERY != (first - 1) // TRIM_EVERY:
                trim_events(conn, self.queue, self.maxlen)
        if self.events or self.wake or self.wake_at is not None:
            self.listeners = conn.execute(
                "SELECT kind, addr FROM listeners WHERE queue = ?", (self.queue,)
            ).fetchall()


def trim_events(conn: sqlite3.Connection, queue: str, maxlen: int) -> None:
    conn.execute(
        "DELETE FROM events WHERE queue = ? AND seq <= (SELECT seq FROM events "
        "WHERE queue = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
        (queue, queue, max(maxlen, 0)),
    )


# ---- shared state changes ----------------------------------------------------------
def delete_jobs(tx: Tx, rows: Sequence[tuple[int, str]]) -> None:
    """Delete jobs (``(pk, id)`` pairs) with their logs and history."""
    if not rows:
        return
    conn, q = tx.conn, tx.queue
    conn.executemany("DELETE FROM jobs WHERE pk = ?", [(pk,) for pk, _ in rows])
    conn.executemany("DELETE FROM logs WHERE queue = ? AND job = ?", [(q, i) for _, i in rows])
    conn.executemany(
        "DELETE FROM history WHERE queue = ? AND job = ?", [(q, i) for _, i in rows]
    )


def oldest(tx: Tx, state: str, limit: int, max_rank: int | None = None) -> list[tuple[int, str]]:
    """The first ``limit`` jobs of ``state`` in rank order (rank <= ``max_rank``)."""
    if max_rank is None:
        sql = "SELECT pk, id FROM jobs WHERE queue = ? AND state = ? ORDER BY rank, pk LIMIT ?"
        params: tuple[object, ...] = (tx.queue, state, limit)
    else:
        sql = (
            "SELECT pk, id FROM jobs WHERE queue = ? AND state = ? AND rank <= ? "
            "ORDER BY rank, pk LIMIT ?"
        )
        params = (tx.queue, state, max_rank, limit)
    return [(int(pk), str(i)) for pk, i in tx.conn.execute(sql, params)]


def count(conn: sqlite3.Connection, queue: str, states: Iterable[str]) -> int:
    states = tuple(states)
    marks = ",".join("?" * len(states))
    row = conn.execute(
        f"SELECT coalesce(sum(n), 0) FROM counts WHERE queue = ? AND state IN ({marks})",
        (queue, *states),
    ).fetchone()
    return int(row[0])


def retain(tx: Tx, state: str, pk: int, job_id: str, spec: str | None) -> None:
    """Trim the finished set ``state`` after job ``pk`` entered it (rank = now), by
    the job's retention spec ``"count:age_ms"`` (-1: no limit; count 0: remove the
    job now)."""
    m = _RETENTION.match(spec or "")
    keep, age = (int(m[1]), int(m[2])) if m else (-1, -1)
    if keep == 0:
        delete_jobs(tx, [(pk, job_id)])
        return
    if age >= 0:
        delete_jobs(tx, oldest(tx, state, 100, tx.now - age))
    if keep > 0:
        extra = count(tx.conn, tx.queue, (state,)) - keep
        if extra > 0:
            delete_jobs(tx, oldest(tx, state, min(extra, 1000)))


def record_attempt(tx: Tx, job_id: str, attempt: int, error: str, stack: str) -> None:
    """A failed attempt goes to the job's history (the last HISTORY_KEPT kept)."""
    conn, q = tx.conn, tx.queue
    conn.execute(
        "INSERT INTO history (queue, job, attempt, error, stack, at) VALUES (?, ?, ?, ?, ?, ?)",
        (q, job_id, attempt, error, stack, tx.now),
    )
    conn.execute(
        "DELETE FROM history WHERE queue = ? AND job = ? AND pk <= (SELECT pk FROM history "
        "WHERE queue = ? AND job = ? ORDER BY pk DESC LIMIT 1 OFFSET ?)",
        (q, job_id, q, job_id, HISTORY_KEPT),
    )


def fail_now(
    tx: Tx,
    job: tuple[int, str, str | None],
    reason: str,
    stack: str,
    attempt: int,
    made: int | None = None,
) -> None:
    """Fail a job for good.  ``job`` is ``(pk, id, kf)``; ``made`` updates attempts."""
    pk, job_id, kf = job
    tx.conn.execute(
        "UPDATE jobs SET state = 'failed', rank = ?, error = ?, stack = ?, finished = ?, "
        "made = coalesce(?, made) WHERE pk = ?",
        (tx.now, reason, stack, tx.now, made, pk),
    )
    record_attempt(tx, job_id, attempt, reason, stack)
    tx.emit("failed", job_id, error=reason, attempt=attempt)
    retain(tx, "failed", pk, job_id, kf)


def make_ready(tx: Tx, pk: int, prio: int, clear: str = "") -> str:
    """Move a job among the ready ones; ``clear`` lists extra ``col = NULL`` settings."""
    state, rank = tx.ready_slot(prio)
    extra = f", {clear}" if clear else ""
    tx.conn.execute(f"UPDATE jobs SET state = ?, rank = ?{extra} WHERE pk = ?", (state, rank, pk))
    return state
