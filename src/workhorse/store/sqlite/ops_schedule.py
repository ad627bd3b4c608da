"""Schedules on the embedded store: each function is the body of one transaction
(the schedules belong to no queue; they run with the queue name '')."""

from __future__ import annotations

from workhorse.store.base import SCHEDULE_PAUSED, NewJob, StoredSchedule
from workhorse.store.sqlite import ops_worker
from workhorse.store.sqlite.tx import Tx


def upsert(tx: Tx, key: str, spec: str, next_at: int) -> bool:
    row = tx.conn.execute("SELECT spec, next_at FROM schedules WHERE key = ?", (key,)).fetchone()
    if row is not None and row[0] == spec:
        return False
    if row is not None and int(row[1]) >= SCHEDULE_PAUSED:
        next_at = int(row[1])  # a paused schedule stays paused
    tx.conn.execute(
        "INSERT OR REPLACE INTO schedules (key, spec, next_at) VALUES (?, ?, ?)",
        (key, spec, next_at),
    )
    return True


def listed(tx: Tx, now: int | None, limit: int) -> list[StoredSchedule]:
    sql = "SELECT key, spec, next_at FROM schedules"
    params: tuple[object, ...] = (limit,)
    if now is not None:
        sql += " WHERE next_at <= ?"
        params = (now, limit)
    rows = tx.conn.execute(sql + " ORDER BY next_at, key LIMIT ?", params)
    return [StoredSchedule(str(k), str(s).encode(), int(n)) for k, s, n in rows]


def advance(tx: Tx, key: str, tick: int, next_at: int) -> bool:
    cur = tx.conn.execute(
        "UPDATE schedules SET next_at = ? WHERE key = ? AND next_at = ?", (next_at, key, tick)
    )
    return cur.rowcount > 0


def fire(tx: Tx, key: str, tick: int, next_at: int, job: NewJob) -> tuple[str, bool] | None:
    """Add the tick's job to ``tx.queue`` and advance the schedule, in this one
    transaction, if the schedule is still at ``tick``."""
    if not advance(tx, key, tick, next_at):
        return None
    ((job_id, created),) = ops_worker.add(tx, [job])
    return job_id, created


def remove(tx: Tx, key: str) -> bool:
    return tx.conn.execute("DELETE FROM schedules WHERE key = ?", (key,)).rowcount > 0
