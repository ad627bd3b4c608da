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
from collections.abc import Iterable, Mapping, Sequence

import orjson

#: Prioritized jobs rank by priority first (at most 2^21), then by ready order.
PRIO_SHIFT = 1 << 40
HISTORY_KEPT = 20
#: Most dead letters a queue keeps; past that the oldest leave the set and stay
#: failed jobs (the Redis store's DEAD_LETTERS_KEPT).
DEAD_LETTERS_KEPT = 10_000
#: A queue's event stream is trimmed back to ``events_maxlen`` once it is this many
#: events (or 1 %) over; the check runs when positions cross a multiple of
#: TRIM_CHECK.  The stream is kept at about ``events_maxlen``, like Redis ``MAXLEN ~``.
TRIM_SLACK = 64
TRIM_CHECK = 16
_RETENTION = re.compile(r"^(-?\d+):(-?\d+)$")
READY = ("prioritized", "waiting")


class Tx:
    """The state of one write transaction on one queue."""

    __slots__ = (
        "_last_id",
        "_moves",
        "_seq",
        "conn",
        "dead_added",
        "events",
        "listeners",
        "maxlen",
        "now",
        "queue",
        "txs",
        "wake",
        "wake_at",
    )

    def __init__(
        self,
        conn: sqlite3.Connection,
        queue: str,
        now: int,
        maxlen: int,
        txs: dict[str, Tx] | None = None,
    ) -> None:
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
        self._moves: dict[str, int] = {}
        # Every queue this transaction changes (flows reach other queues), shared by
        # all its Tx objects: one per queue, whichever queue asks, so counters and
        # sequences are never loaded twice.
        self.txs: dict[str, Tx] = {queue: self} if txs is None else txs
        self.dead_added = False  # the dead-letter set grew: bound it once, at the end

    def on(self, queue: str) -> Tx:
        """The state of this same transaction on another queue (a flow's parent or
        child there); finished with this one."""
        sub = self.txs.get(queue)
        if sub is None:
            sub = self.txs[queue] = Tx(self.conn, queue, self.now, self.maxlen, self.txs)
        return sub

    def all(self) -> list[Tx]:
        return list(self.txs.values())

    # ---- queue row ----------------------------------------------------------------
    def ensure_queue(self, known: bool = False) -> None:
        """Create the queue's row if missing (``known``: it received a job)."""
        if known:
            self.conn.execute(
                "INSERT INTO queues (name, known) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET known = 1 WHERE known = 0",
                (self.queue,),
            )
        else:
            self.conn.execute("INSERT OR IGNORE INTO queues (name) VALUES (?)", (self.queue,))

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

    # ---- counts per state -----------------------------------------------------------
    def move(self, frm: str | None, to: str | None, n: int = 1) -> None:
        """Record ``n`` jobs leaving state ``frm`` (None: new) for ``to`` (None:
        deleted); the ``counts`` table is updated once, when the transaction ends."""
        moves = self._moves
        if frm is not None:
            moves[frm] = moves.get(frm, 0) - n
        if to is not None:
            moves[to] = moves.get(to, 0) + n

    def count(self, states: Iterable[str]) -> int:
        """Jobs in these states now (including this transaction's moves)."""
        states = tuple(states)
        return count(self.conn, self.queue, states) + sum(self._moves.get(s, 0) for s in states)

    def due_at(self, due: int) -> None:
        self.wake_at = due if self.wake_at is None else min(self.wake_at, due)

    # ---- events -----------------------------------------------------------------
    def emit(self, ev: str, job_id: str, **fields: object) -> None:
        payload = orjson.dumps({k: str(v) for k, v in fields.items()}).decode() if fields else "{}"
        self.events.append((self.queue, ev, job_id, payload))

    def finish(self) -> None:
        """Write what each queue's Tx buffered: events (and trim the stream),
        counters; read the listeners to wake after the commit."""
        for tx in list(self.txs.values()):
            tx._finish_queue()

    def _finish_queue(self) -> None:
        conn = self.conn
        if self.dead_added:
            _bound_dead_letters(self)
        moved = [(self.queue, state, n) for state, n in self._moves.items() if n]
        if moved:
            conn.executemany(
                "INSERT INTO counts (queue, state, n) VALUES (?, ?, ?) "
                "ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n",
                moved,
            )
        if self._seq is not None:
            conn.execute(
                "UPDATE queues SET seq = ?, last_id = ? WHERE name = ?",
                (self._seq, self._last_id, self.queue),
            )
        if self.events:
            insert_events(conn, self.events)
            conn.execute(
                "UPDATE queues SET nevents = nevents + ? WHERE name = ?",
                (len(self.events), self.queue),
            )
            last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
            if last // TRIM_CHECK != (last - len(self.events)) // TRIM_CHECK:
                trim_events(conn, self.queue, self.maxlen)
        if self.events or self.wake or self.wake_at is not None:
            self.listeners = conn.execute(
                "SELECT kind, addr FROM listeners WHERE queue = ?", (self.queue,)
            ).fetchall()


def insert_events(conn: sqlite3.Connection, events: list[tuple[str, str, str, str]]) -> None:
    """Append events, many rows per statement (cheaper than one call per row)."""
    for i in range(0, len(events), 250):
        chunk = events[i : i + 250]
        values = ",".join(["(?, ?, ?, ?)"] * len(chunk))
        conn.execute(
            f"INSERT INTO events (queue, ev, job, fields) VALUES {values}",
            [v for event in chunk for v in event],
        )


def trim_events(conn: sqlite3.Connection, queue: str, maxlen: int) -> None:
    """Drop the oldest events of the queue once it has TRIM_SLACK more than ``maxlen``
    (the cost is that of the rows deleted, not of the stream's length)."""
    row = conn.execute("SELECT nevents FROM queues WHERE name = ?", (queue,)).fetchone()
    extra = 0 if row is None else int(row[0]) - max(maxlen, 0)
    if extra < max(TRIM_SLACK, maxlen // 100):
        return
    conn.execute(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE queue = ? "
        "ORDER BY seq LIMIT ?)",
        (queue, extra),
    )
    conn.execute("UPDATE queues SET nevents = nevents - ? WHERE name = ?", (extra, queue))


# ---- shared state changes ----------------------------------------------------------
def marks(n: int) -> str:
    """``?, ?, ...`` for an IN list of ``n`` values."""
    return ",".join("?" * n)


def delete_jobs(tx: Tx, rows: Sequence[tuple[int, str]], state: str) -> None:
    """Delete jobs (``(pk, id)`` pairs, all in ``state``) with their logs and history."""
    conn, q = tx.conn, tx.queue
    tx.move(state, None, len(rows))
    for i in range(0, len(rows), 500):
        chunk = rows[i : i + 500]
        pks = [pk for pk, _ in chunk]
        ids = [job_id for _, job_id in chunk]
        conn.execute(f"DELETE FROM jobs WHERE pk IN ({marks(len(pks))})", pks)
        where = f"queue = ? AND job IN ({marks(len(ids))})"
        conn.execute(f"DELETE FROM logs WHERE {where}", (q, *ids))
        conn.execute(f"DELETE FROM history WHERE {where}", (q, *ids))
        conn.execute(
            f"DELETE FROM children WHERE queue = ? AND parent IN ({marks(len(ids))})", (q, *ids)
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


def parse_keep(spec: str | None) -> tuple[int, int]:
    """A retention spec ``"count:age_ms"`` (-1: no limit)."""
    m = _RETENTION.match(spec or "")
    return (int(m[1]), int(m[2])) if m else (-1, -1)


def retain(tx: Tx, state: str, finished: Sequence[tuple[int, str, str | None]]) -> None:
    """Trim the finished set ``state`` after jobs ``(pk, id, spec)`` entered it (rank =
    now): a job whose spec keeps 0 is removed at once; then the set is trimmed once by
    the spec of the last job kept (by age, then to the last ``count``)."""
    keep, age = -1, -1
    removed: list[tuple[int, str]] = []
    kept = False
    for pk, job_id, spec in finished:
        c, a = parse_keep(spec)
        if c == 0:
            removed.append((pk, job_id))
        else:
            keep, age, kept = c, a, True
    _drop_finished(tx, removed, state)
    if not kept:
        return
    if age >= 0:
        _drop_finished(tx, oldest(tx, state, 100, tx.now - age), state)
    if keep > 0:
        extra = tx.count((state,)) - keep
        if extra > 0:
            _drop_finished(tx, oldest(tx, state, min(extra, 1000)), state)


def _drop_finished(tx: Tx, rows: Sequence[tuple[int, str]], state: str) -> None:
    """Delete finished jobs by retention; a dead letter among them leaves with a
    ``removed`` event, so it never vanishes unseen."""
    if state == "failed" and rows:
        for (job_id,) in tx.conn.execute(
            f"SELECT id FROM jobs WHERE pk IN ({marks(len(rows))}) AND dead IS NOT NULL",
            [pk for pk, _ in rows],
        ).fetchall():
            tx.emit("removed", str(job_id), state="failed", reason="retention")
    delete_jobs(tx, rows, state)


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


def mark_failed(
    tx: Tx,
    frm: str,
    job: tuple[int, str],
    reason: str,
    stack: str,
    attempt: int,
    made: int | None = None,
    ran_ms: int | None = None,
) -> None:
    """Mark a job ``(pk, id)`` in state ``frm`` failed for good; the caller then trims
    the set with :func:`retain`.  ``made`` updates the attempts made; ``ran_ms`` is
    how long the attempt ran in a worker (None: it did not run there)."""
    pk, job_id = job
    tx.move(frm, "failed")
    tx.conn.execute(
        "UPDATE jobs SET state = 'failed', rank = ?, error = ?, stack = ?, finished = ?, "
        "made = coalesce(?, made) WHERE pk = ?",
        (tx.now, reason, stack, tx.now, made, pk),
    )
    record_attempt(tx, job_id, attempt, reason, stack)
    if ran_ms is None:
        tx.emit("failed", job_id, error=reason, attempt=attempt)
    else:
        tx.emit("failed", job_id, error=reason, attempt=attempt, duration_ms=ran_ms)
    _dead_letter(tx, pk, job_id, reason)
    notify_parents(tx, {pk: reason}, "f")


def notify_parents(tx: Tx, values: Mapping[int, str], kind: str) -> None:
    """Jobs (pk -> value) finished (``kind`` c: completed, value = result JSON; f:
    failed for good, value = reason): those of a flow tell their parents, in this
    same transaction (one file holds every queue)."""
    pks = list(values)
    rows = tx.conn.execute(
        f"SELECT pk, id, pq, pid, fpf FROM jobs WHERE pk IN ({marks(len(pks))}) "
        "AND pid IS NOT NULL",
        pks,
    ).fetchall()
    for pk, job_id, pq, pid, fpf in rows:
        ref = f"{tx.queue}:{job_id}"
        child_done(tx.on(str(pq)), str(pid), ref, kind, values[pk], bool(fpf))


def child_done(tx: Tx, parent: str, ref: str, kind: str, value: str, fail_parent: bool) -> None:
    """Record a child's end on its parent ``parent`` of queue ``tx.queue``; the parent
    fails (``fail_parent``) or, once no child is pending, becomes ready."""
    conn, q = tx.conn, tx.queue
    cur = conn.execute(
        "UPDATE children SET state = ?, value = ? WHERE queue = ? AND parent = ? AND ref = ? "
        "AND state = 'pending'",
        (kind, value, q, parent, ref),
    )
    if not cur.rowcount:
        return
    row = conn.execute(
        "SELECT pk, made, prio, kf, hold_delay FROM jobs WHERE queue = ? AND id = ? "
        "AND state = 'waiting-children'",
        (q, parent),
    ).fetchone()
    if row is None:
        return
    pk, made, prio, kf, delay = int(row[0]), int(row[1]), int(row[2]), row[3], row[4]
    if kind == "f" and fail_parent:
        reason = f"child {ref} failed: {value}"
        fail_now(tx, "waiting-children", (pk, parent, kf), reason, "", made + 1)
        return
    pending = conn.execute(
        "SELECT 1 FROM children WHERE queue = ? AND parent = ? AND state = 'pending' LIMIT 1",
        (q, parent),
    ).fetchone()
    if pending is None and delay:
        due = tx.now + int(delay)
        tx.move("waiting-children", "delayed")
        conn.execute(
            "UPDATE jobs SET state = 'delayed', rank = ?1, due = ?1 WHERE pk = ?2", (due, pk)
        )
        tx.due_at(due)
        tx.emit("delayed", parent, children="done", delay=delay)
    elif pending is None:
        make_ready(tx, "waiting-children", pk, prio)
        tx.emit("waiting", parent, children="done")


def _dead_letter(tx: Tx, pk: int, job_id: str, reason: str) -> None:
    """A job failed for good joins the dead-letter set, unless it was cancelled."""
    cur = tx.conn.execute(
        "UPDATE jobs SET dead = ? WHERE pk = ? AND cancel IS NULL RETURNING name", (tx.now, pk)
    )
    row = cur.fetchone()
    if row is None:
        return
    tx.emit("deadlettered", job_id, error=reason, name=row[0])
    tx.dead_added = True


def _bound_dead_letters(tx: Tx) -> None:
    """Past DEAD_LETTERS_KEPT, the oldest dead letters leave the set (they stay
    failed jobs)."""
    over = tx.conn.execute(
        "SELECT pk FROM jobs WHERE queue = ? AND dead IS NOT NULL ORDER BY dead DESC, pk DESC "
        "LIMIT -1 OFFSET ?",
        (tx.queue, DEAD_LETTERS_KEPT),
    ).fetchall()
    if over:
        tx.conn.executemany("UPDATE jobs SET dead = NULL WHERE pk = ?", over)


def fail_now(
    tx: Tx, frm: str, job: tuple[int, str, str | None], reason: str, stack: str, attempt: int
) -> None:
    """Fail a job in state ``frm`` for good and apply retention.  ``job`` is ``(pk,
    id, kf)``."""
    mark_failed(tx, frm, (job[0], job[1]), reason, stack, attempt)
    retain(tx, "failed", [job])


def make_ready(tx: Tx, frm: str, pk: int, prio: int, clear: str = "") -> str:
    """Move a job from state ``frm`` among the ready ones; ``clear`` lists extra ``col =
    NULL`` settings.  Its wait starts now, or at its due time if it was delayed."""
    state, rank = tx.ready_slot(prio)
    tx.move(frm, state)
    extra = f", {clear}" if clear else ""
    tx.conn.execute(
        f"UPDATE jobs SET state = ?1, rank = ?2, ready = min(coalesce(due, ?3), ?3){extra} "
        "WHERE pk = ?4",
        (state, rank, tx.now, pk),
    )
    return state
