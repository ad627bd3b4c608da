"""The worker registry, the shared values and the oldest ready job on the embedded
store: bodies of transactions (the registry and the values belong to no queue; they
run with the queue name '')."""

from __future__ import annotations

import orjson

from workhorse.store.base import WorkerInfo
from workhorse.store.sqlite.tx import PRIO_SHIFT, Tx


def register(tx: Tx, info: WorkerInfo, ttl_ms: int) -> None:
    tx.conn.execute(
        "INSERT OR REPLACE INTO workers (id, host, pid, queues, concurrency, active, "
        "started_at, heartbeat_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            info.id,
            info.host,
            info.pid,
            orjson.dumps(list(info.queues)).decode(),
            info.concurrency,
            info.active,
            info.started_at,
            tx.now,
            tx.now + ttl_ms,
        ),
    )


def unregister(tx: Tx, worker_id: str) -> None:
    tx.conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))


def listed(tx: Tx) -> tuple[list[WorkerInfo], bool]:
    """The live workers by id, and whether expired ones wait to be pruned."""
    rows = tx.conn.execute(
        "SELECT id, host, pid, queues, concurrency, active, started_at, heartbeat_at, "
        "expires_at FROM workers ORDER BY id"
    ).fetchall()
    live = [
        WorkerInfo(
            id=str(r[0]),
            host=str(r[1]),
            pid=int(r[2]),
            queues=tuple(str(q) for q in orjson.loads(r[3])),
            concurrency=int(r[4]),
            active=int(r[5]),
            started_at=int(r[6]),
            heartbeat_at=int(r[7]),
        )
        for r in rows
        if int(r[8]) > tx.now
    ]
    return live, len(live) < len(rows)


def prune(tx: Tx) -> None:
    tx.conn.execute("DELETE FROM workers WHERE expires_at <= ?", (tx.now,))


def oldest_ready_at(tx: Tx) -> int | None:
    """When the job that has been ready longest became ready (see the Redis script
    ``oldest_ready.lua``): the first waiting job, the first job of each priority
    level (one indexed look-up per level in use), a delayed job past due."""
    conn, q = tx.conn, tx.queue
    found: list[int] = []
    first = conn.execute(
        "SELECT coalesce(ready, ts) FROM jobs WHERE queue = ? AND state = 'waiting' "
        "ORDER BY rank, pk LIMIT 1",
        (q,),
    ).fetchone()
    if first is not None:
        found.append(int(first[0]))
    level_start = 0
    for _ in range(1000):
        row = conn.execute(
            "SELECT coalesce(ready, ts), rank FROM jobs WHERE queue = ? AND state = 'prioritized' "
            "AND rank >= ? ORDER BY rank, pk LIMIT 1",
            (q, level_start),
        ).fetchone()
        if row is None:
            break
        found.append(int(row[0]))
        level_start = (int(row[1]) // PRIO_SHIFT + 1) * PRIO_SHIFT
    due = conn.execute(
        "SELECT min(rank) FROM jobs WHERE queue = ? AND state = 'delayed'", (q,)
    ).fetchone()
    if due is not None and due[0] is not None and int(due[0]) <= tx.now:
        found.append(int(due[0]))
    return min(found) if found else None


def put_value(tx: Tx, key: str, value: bytes, ttl_ms: int) -> None:
    tx.conn.execute("DELETE FROM shared_values WHERE expires_at <= ?", (tx.now,))
    tx.conn.execute(
        "INSERT OR REPLACE INTO shared_values (key, value, expires_at) VALUES (?, ?, ?)",
        (key, value, tx.now + ttl_ms),
    )


def values(tx: Tx, prefix: str) -> dict[str, bytes]:
    rows = tx.conn.execute(
        "SELECT key, value FROM shared_values WHERE substr(key, 1, ?) = ? AND expires_at > ?",
        (len(prefix), prefix, tx.now),
    )
    return {str(key): bytes(value) for key, value in rows}
