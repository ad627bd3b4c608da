"""State changes of producers and workers: each function is the body of one write
transaction (the counterpart of one Lua script of the Redis store).

Events carry the numbers metrics need, as on Redis: ``active`` the job's wait
(``wait_ms``, since it became ready), ``completed`` / ``retrying`` / ``failed`` how
long the attempt ran (``duration_ms``, since the take); a take held back by a full
rate window emits ``ratelimited`` (``scope`` queue or group)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from workhorse.store.base import LockNotice, NewJob, Outcome, OutcomeKind, StalledReport
from workhorse.store.sqlite.tx import (
    READY,
    Tx,
    count,
    fail_now,
    make_ready,
    mark_failed,
    marks,
    notify_parents,
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
    "grp",
)
_COLS = ", ".join(FETCH_FIELDS)
LOG_LINES_KEPT = 1000
_INSERT_JOB = (
    "INSERT INTO jobs (queue, id, state, rank, name, data, opts, ts, prio, due, owner, tags, "
    "meta, kc, kf, grp, ready) VALUES "
)
_JOB_COLUMNS = 17
_JOB_VALUES = "(" + ", ".join("?" * _JOB_COLUMNS) + ")"


def add(tx: Tx, jobs: Sequence[NewJob], hold: bool = False) -> list[tuple[str, bool]]:
    """Store jobs; an explicit id that exists (or repeats in the batch) is not created.
    ``hold``: they wait for their children (a flow's parents)."""
    tx.ensure_queue(known=True)
    conn, q, now = tx.conn, tx.queue, tx.now
    out: list[tuple[str, bool]] = []
    values: list[Any] = []  # _JOB_VALUES of every new job, flat
    events = tx.events
    dumps = orjson.dumps
    seen: set[str] = set()
    added: dict[str, int] = {}
    for j in jobs:
        if j.job_id:
            job_id = j.job_id
            if job_id in seen or _exists(tx, job_id):
                out.append((job_id, False))
                continue
            seen.add(job_id)
        else:
            job_id = tx.next_id()
        due: int | None = None
        ready: int | None = None
        if hold:
            state, rank = "waiting-children", now
        elif j.delay_ms > 0:
            state, rank = "delayed", now + j.delay_ms
            due = rank
            tx.due_at(due)
        else:
            state, rank = tx.ready_slot(j.priority)
            ready = now
        values += (
            q,
            job_id,
            state,
            rank,
            j.name,
            j.data.decode(),
            j.opts.decode(),
            now,
            j.priority,
            due,
            j.owner or None,
            j.tags.decode() or None,
            j.meta.decode() or None,
            j.keep_completed,
            j.keep_failed,
            j.group or None,
            ready,
        )
        added[state] = added.get(state, 0) + 1
        # tx.emit("added", job_id, name=..., state=...), inlined for bulk adds.
        payload = f'{{"name":{dumps(j.name).decode()},"state":"{state}"}}'
        events.append((q, "added", job_id, payload))
        out.append((job_id, True))
    for state, n in added.items():
        tx.move(None, state, n)
    step = 60 * _JOB_COLUMNS
    for i in range(0, len(values), step):
        chunk = values[i : i + step]
        rows = ",".join([_JOB_VALUES] * (len(chunk) // _JOB_COLUMNS))
        conn.execute(_INSERT_JOB + rows, chunk)
    return out


def _exists(tx: Tx, job_id: str) -> bool:
    row = tx.conn.execute("SELECT 1 FROM jobs WHERE queue = ? AND id = ?", (tx.queue, job_id))
    return row.fetchone() is not None


# ---- fetch: outcomes, promotion, take ------------------------------------------------
def _apply_outcomes(tx: Tx, token: str, outcomes: Sequence[Outcome]) -> list[str]:
    """Finish the jobs this worker holds; returns the ids refused (lock not held)."""
    if not outcomes:
        return []
    conn, now = tx.conn, tx.now
    ids = list({o.job_id for o in outcomes})
    held = {
        str(row[0]): row
        for row in conn.execute(
            "SELECT id, pk, made, prio, kc, kf, started FROM jobs WHERE queue = ? "
            "AND state = 'active' "
            f"AND token = ? AND id IN ({marks(len(ids))})",
            (tx.queue, token, *ids),
        )
    }
    refused: list[str] = []
    completed: list[tuple[int, str, str | None]] = []
    done: dict[str, list[int]] = {}  # result -> jobs (one UPDATE per distinct result)
    failed: list[tuple[int, str, str | None]] = []
    for o in outcomes:
        row = held.pop(o.job_id, None)  # a second outcome for one job is refused
        if row is None:
            refused.append(o.job_id)
            continue
        _, pk, made, prio, kc, kf, started = row
        made += 1
        ran = now - (started if started is not None else now)
        value = o.value.decode() if isinstance(o.value, bytes) else o.value
        if o.kind is OutcomeKind.COMPLETE:
            done.setdefault(value, []).append(pk)
            tx.emit("completed", o.job_id, result=value, duration_ms=ran)
            completed.append((pk, o.job_id, kc))
        elif o.kind is OutcomeKind.FAIL:
            mark_failed(tx, "active", (pk, o.job_id), value, o.stack, made, made=made, ran_ms=ran)
            failed.append((pk, o.job_id, kf))
        else:
            _retry_later(tx, pk, prio, made, o, value, ran)
    for value, pks in done.items():
        tx.move("active", "completed", len(pks))
        conn.execute(
            "UPDATE jobs SET state = 'completed', rank = ?, made = made + 1, result = ?, "
            f"finished = ? WHERE pk IN ({marks(len(pks))})",
            (now, value, now, *pks),
        )
    if completed:
        notify_parents(tx, {pk: v for v, pks in done.items() for pk in pks}, "c")
        retain(tx, "completed", completed)
    if failed:
        retain(tx, "failed", failed)
    return refused


def _retry_later(
    tx: Tx, pk: int, prio: int, made: int, o: Outcome, error: str, ran_ms: int
) -> None:
    record_attempt(tx, o.job_id, made, error, o.stack)
    if o.delay_ms > 0:
        due = tx.now + o.delay_ms
        tx.conn.execute(
            "UPDATE jobs SET state = 'delayed', rank = ?, due = ?, made = ?, error = ?, "
            "stack = ? WHERE pk = ?",
            (due, due, made, error, o.stack, pk),
        )
        tx.move("active", "delayed")
        tx.due_at(due)
    else:
        state, rank = tx.ready_slot(prio)
        tx.move("active", state)
        tx.conn.execute(
            "UPDATE jobs SET state = ?, rank = ?, made = ?, error = ?, stack = ?, ready = ? "
            "WHERE pk = ?",
            (state, rank, made, error, o.stack, tx.now, pk),
        )
    tx.emit("retrying", o.job_id, error=error, attempt=made, delay=o.delay_ms, duration_ms=ran_ms)


def promote_due(tx: Tx) -> None:
    rows = tx.conn.execute(
        "SELECT pk, id, prio FROM jobs WHERE queue = ? AND state = 'delayed' AND rank <= ? "
        "ORDER BY rank, pk LIMIT 1000",
        (tx.queue, tx.now),
    ).fetchall()
    for pk, job_id, prio in rows:
        make_ready(tx, "delayed", int(pk), int(prio), "due = NULL")
        tx.emit("waiting", str(job_id))


#: With group limits the take looks this far down each ready state for jobs it may start.
GROUP_SCAN = 1000


@dataclass(frozen=True, slots=True)
class _Settings:
    """A queue's row as the take needs it: paused, fifo_first, then the limits
    (``LIMIT_FIELDS``; None: no limit)."""

    paused: bool
    fifo_first: bool
    concurrency: int | None
    rate_max: int | None
    rate_per: int | None
    group_max: int | None
    group_per: int | None
    group_concurrency: int | None

    @property
    def grouped(self) -> bool:
        return self.group_max is not None or self.group_concurrency is not None


def _settings(tx: Tx) -> _Settings | None:
    row = tx.conn.execute(
        "SELECT paused, fifo_first, concurrency, rate_max, rate_per, group_max, group_per, "
        "group_concurrency FROM queues WHERE name = ?",
        (tx.queue,),
    ).fetchone()
    return None if row is None else _Settings(bool(row[0]), bool(row[1]), *row[2:])


def _window(tx: Tx, group: str, per: int) -> tuple[int, int | None]:
    """Starts inside the rate window of ``group`` ('' = the queue) after trimming it,
    and when its oldest start leaves it."""
    conn, q = tx.conn, tx.queue
    conn.execute(
        "DELETE FROM starts WHERE queue = ? AND grp = ? AND at <= ?", (q, group, tx.now - per)
    )
    used, first = conn.execute(
        "SELECT count(*), min(at) FROM starts WHERE queue = ? AND grp = ?", (q, group)
    ).fetchone()
    return int(used), None if first is None else int(first) + per


def _queue_room(tx: Tx, n: int, s: _Settings) -> int:
    """How many of ``n`` jobs the queue-wide limits let this take start now."""
    if s.concurrency is not None:
        n = min(n, s.concurrency - tx.count(("active",)))
    if s.rate_max is not None:
        used, _ = _window(tx, "", s.rate_per or 1000)
        n = min(n, s.rate_max - used)
    return n


def _group_room(tx: Tx, group: str, s: _Settings, rate_left: dict[str, int]) -> int:
    """How many more jobs of ``group`` may start now (and, in ``rate_left``, how many
    its rate window allows); a group held back by its rate window asks blocked
    workers to look again when it frees."""
    left = 1 << 30
    if s.group_concurrency is not None:
        (active,) = tx.conn.execute(
            "SELECT count(*) FROM jobs WHERE queue = ? AND grp = ? AND state = 'active'",
            (tx.queue, group),
        ).fetchone()
        left = s.group_concurrency - int(active)
    if s.group_max is not None:
        used, frees = _window(tx, group, s.group_per or 1000)
        if used >= s.group_max and frees is not None:
            tx.due_at(frees)
        rate_left[group] = s.group_max - used
        left = min(left, s.group_max - used)
    return left


def _pick(tx: Tx, n: int, s: _Settings, held: set[str]) -> list[tuple[int, str | None]]:
    """Up to ``n`` ready jobs ``(pk, group)`` in take order; with group limits, jobs of
    groups at their limits are skipped (they stay where they are), and the groups
    whose full rate window held one back are added to ``held``."""
    order = READY[::-1] if s.fifo_first else READY
    limit = GROUP_SCAN if s.grouped else n
    picked: list[tuple[int, str | None]] = []
    room: dict[str, int] = {}
    rate_left: dict[str, int] = {}
    for state in order:
        if len(picked) >= n:
            break
        got = 0
        for pk, group in tx.conn.execute(
            "SELECT pk, grp FROM jobs WHERE queue = ? AND state = ? ORDER BY rank, pk LIMIT ?",
            (tx.queue, state, limit if s.grouped else n - len(picked)),
        ).fetchall():
            if len(picked) >= n:
                break
            if s.grouped and group is not None:
                left = room[group] if group in room else _group_room(tx, group, s, rate_left)
                room[group] = left - 1
                if left <= 0:
                    if rate_left.get(group, 1) <= 0:
                        held.add(group)
                    continue
                if group in rate_left:
                    rate_left[group] -= 1
            picked.append((int(pk), group))
            got += 1
        tx.move(state, "active", got)
    return picked


def _count_starts(tx: Tx, picked: list[tuple[int, str | None]], s: _Settings) -> None:
    rows: list[tuple[str, str, int]] = []
    if s.rate_max is not None:
        rows += [(tx.queue, "", tx.now)] * len(picked)
    if s.group_max is not None:
        rows += [(tx.queue, g, tx.now) for _, g in picked if g is not None]
    if rows:
        tx.conn.executemany("INSERT INTO starts (queue, grp, at) VALUES (?, ?, ?)", rows)


def _take(
    tx: Tx, token: str, n: int, lock_until: int, s: _Settings, held: set[str]
) -> list[tuple[Any, ...]]:
    """Take up to ``n`` ready jobs; rows of ``(id, *FETCH_FIELDS)`` in take order."""
    n = _queue_room(tx, n, s)
    if n <= 0:
        return []
    chosen = _pick(tx, n, s, held)
    picked = [pk for pk, _ in chosen]
    if not picked:
        return []
    conn = tx.conn
    where = f"pk IN ({marks(len(picked))})"
    conn.execute(
        f"UPDATE jobs SET state = 'active', rank = ?, token = ?, started = ? WHERE {where}",
        (lock_until, token, tx.now, *picked),
    )
    rows = {
        row[0]: row[1:]
        for row in conn.execute(
            f"SELECT pk, id, {_COLS}, coalesce(ready, ts) FROM jobs WHERE {where}", picked
        )
    }
    out = [rows[pk][:-1] for pk in picked]
    for pk in picked:
        row = rows[pk]
        tx.emit("active", row[0], wait_ms=max(tx.now - row[-1], 0))
    _count_starts(tx, chosen, s)
    return out


def fetch(
    tx: Tx, token: str, outcomes: Sequence[Outcome], take: int, lock_until: int
) -> tuple[list[tuple[Any, ...]], list[str]]:
    refused = _apply_outcomes(tx, token, outcomes)
    promote_due(tx)
    s = _settings(tx)
    if s is None or s.paused:
        return [], refused
    held: set[str] = set()
    taken = _take(tx, token, take, lock_until, s, held) if take > 0 else []
    # Another worker may take what is left: this take got all it asked for, or (with
    # concurrency limits) it only finished jobs, which frees places.
    limited = s.concurrency is not None or s.group_concurrency is not None
    freed = take == 0 and limited and len(refused) < len(outcomes)
    if ((take > 0 and len(taken) == take) or freed) and tx.count(READY) > 0:
        tx.wake = True
    # A full rate window: blocked workers look again when it frees.
    if s.rate_max is not None and take > 0 and tx.count(READY) > 0:
        used, frees = _window(tx, "", s.rate_per or 1000)
        if used >= s.rate_max and frees is not None:
            tx.due_at(frees)
            if len(taken) < take:
                tx.emit("ratelimited", "", scope="queue")
    if held and len(taken) < take:
        tx.emit("ratelimited", "", scope="group", groups=len(held))
    return taken, refused


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
def extend_locks(tx: Tx, token: str, job_ids: Sequence[str], lock_until: int) -> list[LockNotice]:
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
        make_ready(tx, "active", int(row[0]), int(row[1]), "token = NULL")
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
    tx.wake = bool(rows)  # places freed (concurrency limits), whatever becomes of them
    for pk, job_id, stalls, made, cancel, prio, kf in rows:
        stalls += 1
        tx.conn.execute("UPDATE jobs SET stalls = ?, token = NULL WHERE pk = ?", (stalls, pk))
        tx.emit("stalled", job_id, count=stalls)
        attempt = int(made) + 1
        if cancel:
            fail_now(tx, "active", (pk, job_id, kf), "cancelled", "", attempt)
            report.failed.append(job_id)
        elif stalls > max_stalled:
            reason = f"job stalled more than {max_stalled} time(s)"
            fail_now(tx, "active", (pk, job_id, kf), reason, "", attempt)
            report.failed.append(job_id)
        else:
            make_ready(tx, "active", pk, int(prio))
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
