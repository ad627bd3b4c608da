"""State changes of producers and workers: each function is the body of one write
transaction (the counterpart of one Lua script of the Redis store)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workhorse.store.base import LockNotice, NewJob, Outcome, OutcomeKind, StalledReport
from workhorse.store.sqlite.tx import (
    READY,
    Tx,
    count,
    fail_now,
    make_ready,
    record_attempt,
    retain,
)

#: The fields a worker needs of a job it takes (as the Redis store returns them).
FETCH_FIELDS = (
    "name",
    "data",
    "opts",
    "ts",
    "prio",
    "made",
    "stalls",
    "progress",
    "owner",
    "tags",
    "meta",
)
LOG_LINES_KEPT = 1000
_INSERT_JOB = (
    "INSERT INTO jobs (queue, id, state, rank, name, data, opts, ts, prio, due, owner, tags, "
    "meta, kc, kf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _text(raw: bytes | str) -> str | None:
    value = raw.decode() if isinstance(raw, bytes) else raw
    return value or None


def add(tx: Tx, jobs: Sequence[NewJob]) -> list[tuple[str, bool]]:
    """Store jobs; an explicit id that exists (or repeats in the batch) is not created."""
    tx.ensure_queue(known=True)
    conn, q, now = tx.conn, tx.queue, tx.now
    out: list[tuple[str, bool]] = []
    rows: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    for j in jobs:
        if j.job_id:
            job_id = j.job_id
            if job_id in seen or conn.execute(
                "SELECT 1 FROM jobs WHERE queue = ? AND id = ?", (q, job_id)
            ).fetchone():
                out.append((job_id, False))
                continue
        else:
            job_id = tx.next_id()
        seen.add(job_id)
        due: int | None = None
        if j.delay_ms > 0:
            state, rank = "delayed", now + j.delay_ms
            due = rank
            tx.due_at(due)
        else:
            state, rank = tx.ready_slot(j.priority)
        rows.append(
            (
                q,
                job_id,
                state,
                rank,
                j.name,
                _text(j.data),
                _text(j.opts),
                now,
                j.priority,
                due,
                j.owner or None,
                _text(j.tags),
                _text(j.meta),
                j.keep_completed,
                j.keep_failed,
            )
        )
        tx.emit("added", job_id, name=j.name, state=state)
        out.append((job_id, True))
    conn.executemany(_INSERT_JOB, rows)
    return out


# ---- fetch: outcomes, promotion, take ------------------------------------------------
def _finish(tx: Tx, token: str, o: Outcome) -> bool:
    conn, now = tx.conn, tx.now
    row = conn.execute(
        "SELECT pk, made, prio, kc, kf FROM jobs WHERE queue = ? AND id = ? "
        "AND state = 'active' AND token = ?",
        (tx.queue, o.job_id, token),
    ).fetchone()
    if row is None:
        return False
    pk, made, prio, kc, kf = int(row[0]), int(row[1]) + 1, int(row[2]), row[3], row[4]
    value = o.value.decode() if isinstance(o.value, bytes) else o.value
    if o.kind is OutcomeKind.COMPLETE:
        conn.execute(
            "UPDATE jobs SET state = 'completed', rank = ?, made = ?, result = ?, finished = ? "
            "WHERE pk = ?",
            (now, made, value, now, pk),
        )
        tx.emit("completed", o.job_id, result=value)
        retain(tx, "completed", pk, o.job_id, kc)
    elif o.kind is OutcomeKind.FAIL:
        fail_now(tx, (pk, o.job_id, kf), value, o.stack, made, made=made)
    else:
        record_attempt(tx, o.job_id, made, value, o.stack)
        if o.delay_ms > 0:
            due = now + o.delay_ms
            conn.execute(
                "UPDATE jobs SET state = 'delayed', rank = ?, due = ?, made = ?, error = ?, "
                "stack = ? WHERE pk = ?",
                (due, due, made, value, o.stack, pk),
            )
            tx.due_at(due)
        else:
            state, rank = tx.ready_slot(prio)
            conn.execute(
                "UPDATE jobs SET state = ?, rank = ?, made = ?, error = ?, stack = ? WHERE pk = ?",
                (state, rank, made, value, o.stack, pk),
            )
        tx.emit("retrying", o.job_id, error=value, attempt=made, delay=o.delay_ms)
    return True


def promote_due(tx: Tx) -> None:
    rows = tx.conn.execute(
        "SELECT pk, id, prio FROM jobs WHERE queue = ? AND state = 'delayed' AND rank <= ? "
        "ORDER BY rank, pk LIMIT 1000",
        (tx.queue, tx.now),
    ).fetchall()
    for pk, job_id, prio in rows:
        make_ready(tx, int(pk), int(prio), "due = NULL")
        tx.emit("waiting", str(job_id))


def _take(tx: Tx, token: str, n: int, lock_until: int) -> list[tuple[str, dict[str, Any]]]:
    if n <= 0:
        return []
    conn, q = tx.conn, tx.queue
    meta = conn.execute("SELECT paused, fifo_first FROM queues WHERE name = ?", (q,)).fetchone()
    if meta is None or meta[0]:
        return []
    order = READY[::-1] if meta[1] else READY
    picked: list[tuple[int, str]] = []
    for state in order:
        if len(picked) >= n:
            break
        picked += conn.execute(
            "SELECT pk, id FROM jobs WHERE queue = ? AND state = ? ORDER BY rank, pk LIMIT ?",
            (q, state, n - len(picked)),
        ).fetchall()
    if not picked:
        return []
    conn.executemany(
        "UPDATE jobs SET state = 'active', rank = ?, token = ?, started = ? WHERE pk = ?",
        [(lock_until, token, tx.now, pk) for pk, _ in picked],
    )
    cols = ", ".join(FETCH_FIELDS)
    out = []
    for pk, job_id in picked:
        tx.emit("active", job_id)
        row = conn.execute(f"SELECT {cols} FROM jobs WHERE pk = ?", (pk,)).fetchone()
        out.append((str(job_id), dict(zip(FETCH_FIELDS, row, strict=True))))
    if len(picked) == n and count(conn, q, READY) > 0:
        tx.wake = True
    return out


def fetch(
    tx: Tx, token: str, outcomes: Sequence[Outcome], take: int, lock_until: int
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    refused = [o.job_id for o in outcomes if not _finish(tx, token, o)]
    promote_due(tx)
    return _take(tx, token, take, lock_until), refused


def fetch_needed(tx: Tx, has_outcomes: bool, take: int) -> bool:
    """Read-only check before a fetch: does it have anything to do?  (Spares the
    write lock to idle workers.)"""
    if has_outcomes:
        return True
    conn, q = tx.conn, tx.queue
    if conn.execute(
        "SELECT 1 FROM jobs WHERE queue = ? AND state = 'delayed' AND rank <= ? LIMIT 1",
        (q, tx.now),
    ).fetchone():
        return True
    return take > 0 and count(conn, q, READY) > 0


# ---- locks ------------------------------------------------------------------------
def extend_locks(
    tx: Tx, token: str, job_ids: Sequence[str], lock_until: int
) -> list[LockNotice]:
    conn, q = tx.conn, tx.queue
    out: list[LockNotice] = []
    for job_id in job_ids:
        cur = conn.execute(
            "UPDATE jobs SET rank = ? WHERE queue = ? AND id = ? AND state = 'active' "
            "AND token = ?",
            (lock_until, q, job_id, token),
        )
        if not cur.rowcount:
            out.append(LockNotice(job_id, "lost"))
            continue
        flag = conn.execute(
            "SELECT cancel FROM jobs WHERE queue = ? AND id = ?", (q, job_id)
        ).fetchone()
        if flag is not None and flag[0]:
            out.append(LockNotice(job_id, "cancel"))
    return out


def release(tx: Tx, token: str, job_ids: Sequence[str]) -> int:
    n = 0
    for job_id in job_ids:
        row = tx.conn.execute(
            "SELECT pk, prio FROM jobs WHERE queue = ? AND id = ? AND state = 'active' "
            "AND token = ?",
            (tx.queue, job_id, token),
        ).fetchone()
        if row is None:
            continue
        make_ready(tx, int(row[0]), int(row[1]), "token = NULL")
        tx.emit("waiting", job_id, released="1")
        n += 1
    return n


def stalled_exist(tx: Tx) -> bool:
    return bool(
        tx.conn.execute(
            "SELECT 1 FROM jobs WHERE queue = ? AND state = 'active' AND rank <= ? LIMIT 1",
            (tx.queue, tx.now),
        ).fetchone()
    )


def recover_stalled(tx: Tx, max_stalled: int) -> StalledReport:
    rows = tx.conn.execute(
        "SELECT pk, id, stalls, made, cancel, prio, kf FROM jobs WHERE queue = ? "
        "AND state = 'active' AND rank <= ? ORDER BY rank, pk LIMIT 1000",
        (tx.queue, tx.now),
    ).fetchall()
    report = StalledReport()
    for pk, job_id, stalls, made, cancel, prio, kf in rows:
        stalls += 1
        tx.conn.execute("UPDATE jobs SET stalls = ?, token = NULL WHERE pk = ?", (stalls, pk))
        tx.emit("stalled", job_id, count=stalls)
        attempt = int(made) + 1
        if cancel:
            fail_now(tx, (pk, job_id, kf), "cancelled", "", attempt)
            report.failed.append(job_id)
        elif stalls > max_stalled:
            reason = f"job stalled more than {max_stalled} time(s)"
            fail_now(tx, (pk, job_id, kf), reason, "", attempt)
            report.failed.append(job_id)
        else:
            make_ready(tx, pk, int(prio))
            tx.emit("waiting", job_id)
            report.requeued.append(job_id)
    return report


# ---- progress and logs ----------------------------------------------------------------
def set_progress(tx: Tx, job_id: str, progress: bytes) -> None:
    value = progress.decode()
    cur = tx.conn.execute(
        "UPDATE jobs SET progress = ? WHERE queue = ? AND id = ?", (value, tx.queue, job_id)
    )
    if cur.rowcount:
        tx.emit("progress", job_id, data=value)


def add_log(tx: Tx, job_id: str, line: str) -> int:
    conn, q = tx.conn, tx.queue
    row = conn.execute("SELECT pk, nlogs FROM jobs WHERE queue = ? AND id = ?", (q, job_id))
    found = row.fetchone()
    if found is None:
        return -1
    pk, n = int(found[0]), int(found[1]) + 1
    conn.execute("INSERT INTO logs (queue, job, line) VALUES (?, ?, ?)", (q, job_id, line))
    if n > LOG_LINES_KEPT:
        conn.execute(
            "DELETE FROM logs WHERE queue = ? AND job = ? AND pk <= (SELECT pk FROM logs "
            "WHERE queue = ? AND job = ? ORDER BY pk DESC LIMIT 1 OFFSET ?)",
            (q, job_id, q, job_id, LOG_LINES_KEPT),
        )
        n = LOG_LINES_KEPT
    conn.execute("UPDATE jobs SET nlogs = ? WHERE pk = ?", (n, pk))
    tx.emit("log", job_id, line=line)
    return n
