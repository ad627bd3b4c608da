"""Admin state changes: each function is the body of one write transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from workhorse.store.base import LIMIT_FIELDS, split_ref
from workhorse.store.sqlite.ops_flow import awaited
from workhorse.store.sqlite.tx import (
    Tx,
    delete_jobs,
    fail_now,
    make_ready,
    notify_parents,
    oldest,
)

_PENDING = ("waiting", "prioritized", "delayed")
_FINISHED = ("completed", "failed")
_OBLITERATE_BATCH = 5000
#: Settings of a job sent back to waiting with fresh attempts (retry, redrive).
_FRESH = (
    "made = 0, stalls = 0, error = NULL, stack = NULL, finished = NULL, result = NULL, "
    "started = NULL, cancel = NULL, token = NULL, dead = NULL"
)


def cancel(tx: Tx, job_id: str) -> str | None:
    row = tx.conn.execute(
        "SELECT pk, state, made, kf FROM jobs WHERE queue = ? AND id = ?", (tx.queue, job_id)
    ).fetchone()
    if row is None:
        return None
    pk, state, made, kf = int(row[0]), str(row[1]), int(row[2]), row[3]
    if state == "active":
        tx.conn.execute("UPDATE jobs SET cancel = 1 WHERE pk = ?", (pk,))
        tx.emit("cancelling", job_id)
    elif state in _PENDING or state == "waiting-children":
        children = awaited(tx, [job_id])
        tx.conn.execute("UPDATE jobs SET cancel = 1 WHERE pk = ?", (pk,))
        fail_now(tx, state, (pk, job_id, kf), "cancelled", "", made)
        for sub, child in children:
            cancel(sub, child)
    return state


def retry(tx: Tx, state: str, limit: int, job_ids: Sequence[str]) -> int:
    """Move finished jobs back to ready with fresh attempts.  Named jobs must all be in
    ``state`` (else -1); without names, the oldest ``limit`` of that state."""
    conn = tx.conn
    if job_ids:
        rows = []
        for job_id in job_ids:
            row = conn.execute(
                "SELECT pk, id, prio FROM jobs WHERE queue = ? AND id = ? AND state = ?",
                (tx.queue, job_id, state),
            ).fetchone()
            if row is None:
                return -1
            rows.append(row)
    else:
        rows = conn.execute(
            "SELECT pk, id, prio FROM jobs WHERE queue = ? AND state = ? ORDER BY rank, pk LIMIT ?",
            (tx.queue, state, limit),
        ).fetchall()
    for pk, job_id, prio in rows:
        rerun(tx, state, int(pk), str(job_id), int(prio))
        tx.emit("waiting", str(job_id), retried="1")
    return len(rows)


def rerun(tx: Tx, frm: str, pk: int, job_id: str, prio: int) -> None:
    """Send a finished job back with fresh attempts (retry, redrive).  A flow parent
    first re-runs its children recorded as failed, and waits for them: each one that
    failed is rerun too (down the tree), one that completed since gives its result,
    one pending or running again is waited for, and one that no longer exists stays
    recorded as failed."""
    conn = tx.conn
    waits = False
    for (ref,) in conn.execute(
        "SELECT ref FROM children WHERE queue = ? AND parent = ? AND state = 'f'",
        (tx.queue, job_id),
    ).fetchall():
        queue, child = split_ref(str(ref))
        sub = tx.on(queue)
        row = conn.execute(
            "SELECT pk, state, prio, result FROM jobs WHERE queue = ? AND id = ?", (queue, child)
        ).fetchone()
        if row is None:
            continue
        if row[1] == "completed":
            kind, value = "c", row[3]
        else:
            if row[1] == "failed":
                rerun(sub, "failed", int(row[0]), child, int(row[2]))
                sub.emit("waiting", child, retried="1")
            kind, value, waits = "pending", None, True
        conn.execute(
            "UPDATE children SET state = ?, value = ? WHERE queue = ? AND parent = ? AND ref = ?",
            (kind, value, tx.queue, job_id, ref),
        )
    if not waits:
        make_ready(tx, frm, pk, prio, _FRESH)
        return
    tx.move(frm, "waiting-children")
    conn.execute(
        f"UPDATE jobs SET state = 'waiting-children', rank = ?, {_FRESH} WHERE pk = ?",
        (tx.now, pk),
    )


# ---- dead letters ---------------------------------------------------------------------
def update_data(tx: Tx, job_id: str, data: str) -> int:
    """1 updated, 0 absent, -1 not failed (refused)."""
    row = tx.conn.execute(
        "SELECT pk, state FROM jobs WHERE queue = ? AND id = ?", (tx.queue, job_id)
    ).fetchone()
    if row is None:
        return 0
    if row[1] != "failed":
        return -1
    tx.conn.execute("UPDATE jobs SET data = ? WHERE pk = ?", (data, row[0]))
    tx.emit("updated", job_id)
    return 1


def _redrive(tx: Tx, pk: int, job_id: str, prio: int) -> None:
    rerun(tx, "failed", pk, job_id, prio)
    tx.emit("waiting", job_id, redriven="1")


def redrive(tx: Tx, job_id: str) -> bool:
    row = tx.conn.execute(
        "SELECT pk, prio FROM jobs WHERE queue = ? AND id = ? AND dead IS NOT NULL",
        (tx.queue, job_id),
    ).fetchone()
    if row is None:
        return False
    _redrive(tx, int(row[0]), job_id, int(row[1]))
    return True


def redrive_dead(tx: Tx, start: int, batch: int, name: str, reason: str) -> tuple[int, int]:
    """Redrive the matching dead letters among ``batch`` from position ``start``
    (oldest first); returns ``(redriven, looked at)``."""
    rows = tx.conn.execute(
        "SELECT pk, id, prio, name, error FROM jobs WHERE queue = ? AND dead IS NOT NULL "
        "ORDER BY dead, pk LIMIT ? OFFSET ?",
        (tx.queue, batch, start),
    ).fetchall()
    n = 0
    for pk, job_id, prio, job_name, error in rows:
        if (not name or job_name == name) and reason in (error or ""):
            _redrive(tx, int(pk), str(job_id), int(prio))
            n += 1
    return n, len(rows)


def purge_dead(tx: Tx) -> int:
    rows = [
        (int(pk), str(job_id))
        for pk, job_id in tx.conn.execute(
            "SELECT pk, id FROM jobs WHERE queue = ? AND dead IS NOT NULL ORDER BY dead, pk "
            "LIMIT 1000",
            (tx.queue,),
        )
    ]
    delete_jobs(tx, rows, "failed")
    for _, job_id in rows:
        tx.emit("removed", job_id, state="failed", reason="purged")
    return len(rows)


def promote(tx: Tx, job_id: str) -> bool:
    row = tx.conn.execute(
        "SELECT pk, prio FROM jobs WHERE queue = ? AND id = ? AND state = 'delayed'",
        (tx.queue, job_id),
    ).fetchone()
    if row is None:
        return False
    make_ready(tx, "delayed", int(row[0]), int(row[1]), "due = NULL")
    tx.emit("waiting", job_id, promoted="1")
    return True


def remove(tx: Tx, job_id: str) -> int:
    """1 removed, 0 absent, -1 active (refused)."""
    row = tx.conn.execute(
        "SELECT pk, state FROM jobs WHERE queue = ? AND id = ?", (tx.queue, job_id)
    ).fetchone()
    if row is None:
        return 0
    if row[1] == "active":
        return -1
    children = awaited(tx, [job_id])
    if row[1] not in ("completed", "failed"):
        _unfinished_gone(tx, [(int(row[0]), job_id)])
    delete_jobs(tx, [(int(row[0]), job_id)], row[1])
    tx.emit("removed", job_id, state=row[1])
    _drop(children)
    return 1


def _drop(children: Sequence[tuple[Tx, str]]) -> None:
    """Remove children their parent no longer waits for (it is gone); one that is
    running is cancelled instead."""
    for sub, child in children:
        if remove(sub, child) < 0:
            cancel(sub, child)


def clean(tx: Tx, state: str, cutoff: int, limit: int) -> list[str]:
    """Delete up to ``limit`` jobs of ``state`` older than ``cutoff``: by finish time
    (oldest first) for finished jobs, by creation time for pending ones."""
    if state in ("completed", "failed"):
        rows = oldest(tx, state, limit, cutoff)
    elif state in _PENDING:
        # Newest first for waiting, as the Redis store walks its list.
        direction = "DESC" if state == "waiting" else "ASC"
        rows = [
            (int(pk), str(i))
            for pk, i in tx.conn.execute(
                f"SELECT pk, id FROM jobs WHERE queue = ? AND state = ? AND ts <= ? "
                f"ORDER BY rank {direction}, pk {direction} LIMIT ?",
                (tx.queue, state, cutoff, limit),
            )
        ]
    else:
        return []
    if state in _PENDING:
        _unfinished_gone(tx, rows)
    delete_jobs(tx, rows, state)
    for _, job_id in rows:
        tx.emit("removed", job_id, state=state)
    return [job_id for _, job_id in rows]


def _unfinished_gone(tx: Tx, rows: Sequence[tuple[int, str]]) -> None:
    """Jobs deleted before they finished: a flow parent learns that such a child
    failed, with reason 'removed', rather than wait for it forever."""
    if rows:
        notify_parents(tx, {pk: "removed" for pk, _ in rows}, "f")


def drain(tx: Tx, include_delayed: bool) -> int:
    """Delete up to 1000 jobs of each pending state; the caller repeats until 0."""
    states = _PENDING if include_delayed else _PENDING[:2]
    n = 0
    for state in states:
        rows = oldest(tx, state, 1000)
        _unfinished_gone(tx, rows)
        delete_jobs(tx, rows, state)
        n += len(rows)
    if n:
        tx.emit("drained", "", count=n)
    return n


def set_paused(tx: Tx, paused: bool) -> None:
    tx.ensure_queue()
    tx.conn.execute("UPDATE queues SET paused = ? WHERE name = ?", (int(paused), tx.queue))
    tx.emit("paused" if paused else "resumed", "")
    if not paused:
        tx.wake = True


def set_limits(tx: Tx, limits: Mapping[str, int | None]) -> None:
    tx.ensure_queue()
    for name, value in limits.items():
        if name not in LIMIT_FIELDS:
            raise ValueError(f"unknown limit {name!r}; use one of {LIMIT_FIELDS}")
        tx.conn.execute(f"UPDATE queues SET {name} = ? WHERE name = ?", (value, tx.queue))
    tx.wake = True


def get_limits(tx: Tx) -> dict[str, int]:
    row = tx.conn.execute(
        f"SELECT {', '.join(LIMIT_FIELDS)} FROM queues WHERE name = ?", (tx.queue,)
    ).fetchone()
    if row is None:
        return {}
    return {n: int(v) for n, v in zip(LIMIT_FIELDS, row, strict=True) if v is not None}


def set_fifo_first(tx: Tx, fifo_first: bool) -> None:
    tx.ensure_queue()
    tx.conn.execute("UPDATE queues SET fifo_first = ? WHERE name = ?", (int(fifo_first), tx.queue))


def obliterate_batch(tx: Tx, force: bool) -> int | None:
    """Delete up to a batch of the queue's jobs; None when refused (active jobs and not
    ``force``).  The caller repeats until 0, then calls :func:`obliterate_rest`."""
    conn, q = tx.conn, tx.queue
    if (
        not force
        and conn.execute(
            "SELECT 1 FROM jobs WHERE queue = ? AND state = 'active' LIMIT 1", (q,)
        ).fetchone()
    ):
        return None
    by_state: dict[str, list[tuple[int, str]]] = {}
    # Flows reaching other queues are settled as if each job were removed (this
    # queue's own flow jobs all go anyway).
    child_elsewhere: list[tuple[int, str]] = []
    for pk, job_id, state, pq in conn.execute(
        "SELECT pk, id, state, pq FROM jobs WHERE queue = ? LIMIT ?", (q, _OBLITERATE_BATCH)
    ):
        by_state.setdefault(str(state), []).append((int(pk), str(job_id)))
        if pq is not None and pq != q and state not in _FINISHED:
            child_elsewhere.append((int(pk), str(job_id)))
    _unfinished_gone(tx, child_elsewhere)
    ids = [job_id for rows in by_state.values() for _, job_id in rows]
    children = [(sub, child) for sub, child in awaited(tx, ids) if sub is not tx]
    for state, rows in by_state.items():
        delete_jobs(tx, rows, state)
    _drop(children)
    return len(ids)


def obliterate_rest(tx: Tx) -> None:
    conn, q = tx.conn, tx.queue
    for table in ("jobs", "logs", "history", "events", "children", "starts"):
        conn.execute(f"DELETE FROM {table} WHERE queue = ?", (q,))
    conn.execute("DELETE FROM counts WHERE queue = ?", (q,))
    conn.execute("DELETE FROM queues WHERE name = ?", (q,))
