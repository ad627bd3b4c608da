"""The embedded store: one SQLite file, no server, several worker processes on one
machine.  Same contract and semantics as the Redis store; every state change is one
write transaction (``ops_worker`` / ``ops_admin``, the counterparts of the Lua
scripts), run on the store's database thread (``db.py``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from workhorse.clock import Clock, now_ms
from workhorse.errors import InvalidTransition, JobNotFound
from workhorse.job import Job, JobState
from workhorse.store.base import (
    Event,
    EventReader,
    FlowNode,
    LockNotice,
    NewJob,
    Outcome,
    StalledReport,
    Store,
    StoredSchedule,
    Waiter,
    WorkerInfo,
    check_queue_name,
)
from workhorse.store.sqlite import ops_admin, ops_flow, ops_registry, ops_schedule, ops_worker
from workhorse.store.sqlite.db import Database
from workhorse.store.sqlite.sleepers import SqliteEventReader, SqliteWaiter
from workhorse.store.sqlite.tx import Tx

T = TypeVar("T")
#: Larger adds run on the store's thread, not on the event loop (see db.py); 1,000
#: jobs take about 10 ms.
_INLINE_ADD = 1000
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_LISTED = {
    JobState.WAITING_CHILDREN,
    JobState.WAITING,
    JobState.PRIORITIZED,
    JobState.DELAYED,
    JobState.ACTIVE,
    JobState.COMPLETED,
    JobState.FAILED,
}


def format_position(seq: int) -> str:
    """Event positions: zero-padded so that they order as strings too."""
    return f"{seq:020d}"


def parse_position(position: str) -> int:
    """``"0"`` (or ``"0-0"``) is the start; otherwise a position we handed out."""
    head = position.split("-", 1)[0].strip()
    if not head.isdigit():
        raise ValueError(
            f"invalid event position {position!r}: use '0', '$' or a position read from this store"
        )
    return int(head)


def _lrange(items: list[T], start: int, end: int) -> list[T]:
    """Slice with Redis LRANGE rules (inclusive end, negative from the end)."""
    n = len(items)
    if start < 0:
        start = max(n + start, 0)
    if end < 0:
        end = n + end
    if start > end or start >= n:
        return []
    return items[start : min(end, n - 1) + 1]


def _check_finished(state: JobState) -> None:
    if state not in (JobState.FAILED, JobState.COMPLETED):
        raise ValueError(f"state must be failed or completed, got {state.value}")


class SqliteStore(Store):
    """Store in one SQLite file (created with its directory if missing).

    One instance per event loop; :meth:`clone` for another thread.  Any number of
    instances and processes may use the same file.  ``synchronous``: ``NORMAL``
    (default: a commit survives the process being killed; the last commits may be
    lost on power loss or an OS crash, never corrupted) or ``FULL`` (every commit
    fsynced).  ``busy_timeout``: seconds a transaction waits for another process's
    write lock before failing with ``StoreUnavailable``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = now_ms,
        events_maxlen: int = 10_000,
        synchronous: str = "NORMAL",
        busy_timeout: float = 30.0,
    ) -> None:
        super().__init__(clock=clock, events_maxlen=events_maxlen)
        text = os.fspath(path)
        if not text or text == ":memory:" or text.startswith("file:"):
            raise ValueError(
                f"SQLite store path {text!r} is not a file path: give the path of the "
                "database file (it is created if missing)"
            )
        sync = synchronous.upper()
        if sync not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, got {synchronous!r}")
        self.path = Path(text).expanduser().absolute()
        self.synchronous = sync
        self.busy_timeout = busy_timeout
        self._db = Database(self.path, busy_timeout, sync)
        self._checked: set[str] = set()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    # ---- plumbing ---------------------------------------------------------------
    def _q(self, queue: str) -> str:
        if queue not in self._checked:
            check_queue_name(queue)
            self._checked.add(queue)
        return queue

    async def _write(self, queue: str, op: Callable[..., T], *args: Any, inline: bool = True) -> T:
        db = self._db
        now = self.clock()
        return await db.call(
            db.write, self._q(queue), now, self.events_maxlen, op, *args, inline=inline
        )

    async def _read(self, queue: str, op: Callable[..., T], *args: Any) -> T:
        db = self._db
        return await db.call(db.read, self._q(queue), self.clock(), op, *args)

    # ---- producer ---------------------------------------------------------------
    async def add(self, queue: str, jobs: Sequence[NewJob]) -> list[tuple[str, bool]]:
        if not jobs:
            return []
        return await self._write(queue, ops_worker.add, list(jobs), inline=len(jobs) <= _INLINE_ADD)

    # ---- worker -----------------------------------------------------------------
    async def fetch(
        self,
        queue: str,
        token: str,
        outcomes: Sequence[Outcome],
        take: int,
        lock_ms: int,
    ) -> tuple[list[Job], list[str]]:
        now = self.clock()
        taken, refused = await self._db.call(
            self._fetch, self._q(queue), now, token, list(outcomes), take, now + lock_ms
        )
        return [_taken(queue, row) for row in taken], refused

    def _fetch(
        self,
        queue: str,
        now: int,
        token: str,
        outcomes: list[Outcome],
        take: int,
        lock_until: int,
    ) -> tuple[list[tuple[Any, ...]], list[str]]:
        db = self._db
        if not ops_worker.fetch_needed(Tx(db.conn(), queue, now, 0), bool(outcomes), take):
            return [], []
        return db.write(
            queue, now, self.events_maxlen, ops_worker.fetch, token, outcomes, take, lock_until
        )

    async def extend_locks(
        self, queue: str, token: str, job_ids: Sequence[str], lock_ms: int
    ) -> list[LockNotice]:
        if not job_ids:
            return []
        lock_until = self.clock() + lock_ms
        return await self._write(queue, ops_worker.extend_locks, token, list(job_ids), lock_until)

    async def release(self, queue: str, token: str, job_ids: Sequence[str]) -> int:
        if not job_ids:
            return 0
        return await self._write(queue, ops_worker.release, token, list(job_ids))

    async def recover_stalled(self, queue: str, max_stalled: int) -> StalledReport:
        return await self._db.call(self._recover_stalled, self._q(queue), self.clock(), max_stalled)

    def _recover_stalled(self, queue: str, now: int, max_stalled: int) -> StalledReport:
        db = self._db
        if not ops_worker.stalled_exist(Tx(db.conn(), queue, now, 0)):
            return StalledReport()
        return db.write(queue, now, self.events_maxlen, ops_worker.recover_stalled, max_stalled)

    async def set_progress(self, queue: str, job_id: str, progress: bytes) -> None:
        await self._write(queue, ops_worker.set_progress, job_id, progress)

    async def add_log(self, queue: str, job_id: str, line: str) -> int:
        return await self._write(queue, ops_worker.add_log, job_id, line)

    def waiter(self, queue: str) -> Waiter:
        return SqliteWaiter(self, self._q(queue))

    async def wake(self, queue: str) -> None:
        await self._db.call(self._db.wake_workers, self._q(queue))

    # ---- sleepers' plumbing (see sleepers.py) -------------------------------------
    async def _register_listener(self, queue: str, kind: str, addr: str) -> None:
        db = self._db
        await db.call(db.register_listener, queue, kind, addr, os.getpid(), self.clock())

    async def _forget_listener(self, addr: str) -> None:
        await self._db.call(self._db.forget_listeners, [addr])

    async def _next_due(self, queue: str) -> int | None:
        return await self._read(queue, _next_due)

    # ---- inspection -------------------------------------------------------------
    async def get_job(self, queue: str, job_id: str) -> Job | None:
        fields = await self._read(queue, _job_row, job_id)
        return None if fields is None else Job.from_fields(queue, job_id, fields)

    async def get_logs(self, queue: str, job_id: str, start: int = 0, end: int = -1) -> list[str]:
        return _lrange(await self._read(queue, _log_lines, job_id), start, end)

    async def get_history(self, queue: str, job_id: str) -> list[dict[str, Any]]:
        return await self._read(queue, _history, job_id)

    async def counts(self, queue: str) -> dict[JobState, int]:
        raw = await self._read(queue, _counts)
        return {state: raw.get(state.value, 0) for state in JobState}

    async def list_jobs(
        self, queue: str, state: JobState, start: int = 0, end: int = 49, desc: bool = True
    ) -> list[Job]:
        if state not in _LISTED:
            return []
        rows = await self._read(queue, _list_rows, state.value, start, end, desc)
        return [Job.from_fields(queue, str(row["id"]), row) for row in rows]

    async def queues(self) -> list[str]:
        return await self._db.call(self._queues)

    def _queues(self) -> list[str]:
        rows = self._db.conn().execute("SELECT name FROM queues WHERE known = 1 ORDER BY name")
        return [str(r[0]) for r in rows]

    # ---- admin ------------------------------------------------------------------
    async def cancel(self, queue: str, job_id: str) -> JobState | None:
        state = await self._write(queue, ops_admin.cancel, job_id)
        return None if state is None else JobState(state)

    async def retry_job(self, queue: str, job_id: str, state: JobState) -> None:
        _check_finished(state)
        if await self._write(queue, ops_admin.retry, state.value, 1, [job_id]) != 1:
            raise InvalidTransition(
                f"job {job_id} is not {state.value}; only a {state.value} job can be retried"
            )

    async def retry_jobs(self, queue: str, state: JobState, limit: int) -> int:
        _check_finished(state)
        return await self._write(queue, ops_admin.retry, state.value, limit, [])

    async def promote(self, queue: str, job_id: str) -> None:
        if not await self._write(queue, ops_admin.promote, job_id):
            raise InvalidTransition(f"job {job_id} is not delayed")

    async def remove(self, queue: str, job_id: str) -> bool:
        result = await self._write(queue, ops_admin.remove, job_id)
        if result < 0:
            raise InvalidTransition(f"job {job_id} is active; cancel it instead of removing it")
        return result == 1

    async def clean(self, queue: str, state: JobState, grace_ms: int, limit: int) -> list[str]:
        if state is JobState.ACTIVE:
            raise InvalidTransition("active jobs cannot be cleaned; cancel them")
        cutoff = self.clock() - grace_ms
        return await self._write(queue, ops_admin.clean, state.value, cutoff, limit)

    async def set_paused(self, queue: str, paused: bool) -> None:
        await self._write(queue, ops_admin.set_paused, paused)

    async def set_fifo_first(self, queue: str, fifo_first: bool) -> None:
        await self._write(queue, ops_admin.set_fifo_first, fifo_first)

    async def set_limits(self, queue: str, limits: Mapping[str, int | None]) -> None:
        await self._write(queue, ops_admin.set_limits, dict(limits))

    async def get_limits(self, queue: str) -> dict[str, int]:
        return await self._read(queue, ops_admin.get_limits)

    async def is_paused(self, queue: str) -> bool:
        return await self._read(queue, _is_paused)

    async def drain(self, queue: str, include_delayed: bool) -> int:
        total = 0
        while n := await self._write(queue, ops_admin.drain, include_delayed):
            total += n
        return total

    async def obliterate(self, queue: str, force: bool) -> None:
        while True:
            n = await self._write(queue, ops_admin.obliterate_batch, force)
            if n is None:
                raise InvalidTransition(
                    f"queue {queue!r} has active jobs; wait for them, or pass force=True"
                )
            if n == 0:
                break
            force = True  # checked once, like the Redis store
        await self._write(queue, ops_admin.obliterate_rest)

    # ---- flows ------------------------------------------------------------------
    async def add_flow(self, nodes: Sequence[FlowNode]) -> list[bool]:
        if not nodes:
            return []
        for node in nodes:
            self._q(node.queue)
        return await self._write(nodes[0].queue, ops_flow.add_flow, list(nodes))

    async def children_results(
        self, queue: str, job_id: str
    ) -> tuple[dict[str, bytes], dict[str, str]]:
        return await self._read(queue, ops_flow.children_results, job_id)

    async def pending_children(self, queue: str, job_id: str) -> list[str]:
        return await self._read(queue, ops_flow.pending_children, job_id)

    # ---- schedules ----------------------------------------------------------------
    async def _global(self, op: Callable[..., T], *args: Any, write: bool = True) -> T:
        """Run an operation that belongs to no queue (schedules)."""
        db = self._db
        if write:
            return await db.call(db.write, "", self.clock(), self.events_maxlen, op, *args)
        return await db.call(db.read, "", self.clock(), op, *args)

    async def upsert_schedule(self, key: str, spec: bytes, next_at: int) -> bool:
        return await self._global(ops_schedule.upsert, key, spec.decode(), next_at)

    async def schedules(self) -> list[StoredSchedule]:
        return await self._global(ops_schedule.listed, None, -1, write=False)

    async def due_schedules(self, now: int, limit: int) -> list[StoredSchedule]:
        return await self._global(ops_schedule.listed, now, limit, write=False)

    async def advance_schedule(self, key: str, tick: int, next_at: int) -> bool:
        return await self._global(ops_schedule.advance, key, tick, next_at)

    async def fire_schedule(
        self, key: str, tick: int, next_at: int, queue: str, job: NewJob
    ) -> tuple[str, bool] | None:
        return await self._write(queue, ops_schedule.fire, key, tick, next_at, job)

    async def remove_schedule(self, key: str) -> bool:
        return await self._global(ops_schedule.remove, key)

    # ---- dead letters -----------------------------------------------------------
    async def dead_letters(
        self, queue: str, start: int = 0, end: int = 49, desc: bool = True
    ) -> list[Job]:
        rows = await self._read(queue, _dead_rows, start, end, desc)
        return [Job.from_fields(queue, str(row["id"]), row) for row in rows]

    async def dead_letter_count(self, queue: str) -> int:
        return await self._read(queue, _dead_count)

    async def update_data(self, queue: str, job_id: str, data: bytes) -> None:
        result = await self._write(queue, ops_admin.update_data, job_id, data.decode())
        if result == 0:
            raise JobNotFound(queue, job_id)
        if result < 0:
            raise InvalidTransition(
                f"job {job_id} is not failed; only the data of a failed job can be edited"
            )

    async def redrive(self, queue: str, job_id: str) -> None:
        if not await self._write(queue, ops_admin.redrive, job_id):
            raise InvalidTransition(f"job {job_id} is not a dead letter of queue {queue!r}")

    async def redrive_dead(
        self, queue: str, start: int, batch: int, name: str, reason: str
    ) -> tuple[int, int]:
        return await self._write(queue, ops_admin.redrive_dead, start, batch, name, reason)

    async def purge_dead(self, queue: str) -> int:
        return await self._write(queue, ops_admin.purge_dead)

    # ---- shared values --------------------------------------------------------------
    async def put_value(self, key: str, value: bytes, ttl_ms: int) -> None:
        await self._global(ops_registry.put_value, key, value, ttl_ms)

    async def values(self, prefix: str) -> dict[str, bytes]:
        return await self._global(ops_registry.values, prefix, write=False)

    # ---- worker registry and observability --------------------------------------
    async def register_worker(self, info: WorkerInfo, ttl_ms: int) -> None:
        await self._global(ops_registry.register, info, ttl_ms)

    async def unregister_worker(self, worker_id: str) -> None:
        await self._global(ops_registry.unregister, worker_id)

    async def workers(self) -> list[WorkerInfo]:
        live, expired = await self._global(ops_registry.listed, write=False)
        if expired:
            await self._global(ops_registry.prune)
        return live

    async def oldest_ready_at(self, queue: str) -> int | None:
        return await self._read(queue, ops_registry.oldest_ready_at)

    # ---- events -----------------------------------------------------------------
    async def read_events(self, queue: str, after: str, count: int = 500) -> list[Event]:
        if after == "$":
            return []
        rows = await self._read(queue, _events_after, parse_position(after), count)
        return [
            Event(format_position(seq), queue, ev, job, orjson.loads(fields))
            for seq, ev, job, fields in rows
        ]

    def event_reader(self, queue: str) -> EventReader:
        return SqliteEventReader(self, self._q(queue))

    async def last_event_position(self, queue: str) -> str:
        seq = await self._read(queue, _last_seq)
        return "0" if seq is None else format_position(seq)

    # ---- lifecycle --------------------------------------------------------------
    def clone(self) -> SqliteStore:
        return SqliteStore(
            self.path,
            clock=self.clock,
            events_maxlen=self.events_maxlen,
            synchronous=self.synchronous,
            busy_timeout=self.busy_timeout,
        )

    async def ping(self) -> None:
        await self._db.call(_ping, self._db)

    async def close(self) -> None:
        await self._db.close()

    def close_sync(self) -> None:
        """Close from outside an event loop (e.g. at the end of a test)."""
        self._db.close_sync()


def _taken(queue: str, row: tuple[Any, ...]) -> Job:
    """A job just taken: ``row`` is ``(id, *ops_worker.FETCH_FIELDS)``."""
    job_id, name, data, opts, ts, prio, made, stalls, progress, owner, tags, meta, group = row
    loads = orjson.loads
    return Job(
        queue_name=queue,
        id=job_id,
        name=name,
        data=loads(data) if data else None,
        options=loads(opts) if opts else {},
        state=JobState.ACTIVE,
        priority=prio,
        created_at=ts,
        attempts_made=made,
        stalled_count=stalls,
        progress=loads(progress) if progress else None,
        tags=loads(tags) if tags else [],
        meta=loads(meta) if meta else {},
        owner=owner,
        group=group,
    )


# ---- read-only queries -------------------------------------------------------------------
def _ping(db: Database) -> None:
    db.conn().execute("SELECT 1").fetchone()


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _job_row(tx: Tx, job_id: str) -> dict[str, Any] | None:
    rows = _dicts(
        tx.conn.execute("SELECT * FROM jobs WHERE queue = ? AND id = ?", (tx.queue, job_id))
    )
    return rows[0] if rows else None


def _log_lines(tx: Tx, job_id: str) -> list[str]:
    cur = tx.conn.execute(
        "SELECT line FROM logs WHERE queue = ? AND job = ? ORDER BY pk", (tx.queue, job_id)
    )
    return [str(r[0]) for r in cur]


def _history(tx: Tx, job_id: str) -> list[dict[str, Any]]:
    return _dicts(
        tx.conn.execute(
            "SELECT attempt, error, stack, at FROM history WHERE queue = ? AND job = ? ORDER BY pk",
            (tx.queue, job_id),
        )
    )


def _counts(tx: Tx) -> dict[str, int]:
    cur = tx.conn.execute("SELECT state, n FROM counts WHERE queue = ?", (tx.queue,))
    return {str(s): int(n) for s, n in cur}


def _page(start: int, end: int, count: Callable[[], int]) -> tuple[int, int] | None:
    """Resolve negative (from the end) positions of an inclusive page; None: empty.
    ``count`` is only called when a position counts from the end."""
    if start < 0 or end < 0:
        n = count()
        start = max(n + start, 0) if start < 0 else start
        end = n + end if end < 0 else end
    return None if start > end else (start, end)


def _state_count(tx: Tx, state: str) -> int:
    row = tx.conn.execute(
        "SELECT n FROM counts WHERE queue = ? AND state = ?", (tx.queue, state)
    ).fetchone()
    return int(row[0]) if row else 0


def _list_rows(tx: Tx, state: str, start: int, end: int, desc: bool) -> list[dict[str, Any]]:
    page = _page(start, end, lambda: _state_count(tx, state))
    if page is None:
        return []
    start, end = page
    direction = "DESC" if desc else "ASC"
    return _dicts(
        tx.conn.execute(
            f"SELECT * FROM jobs WHERE queue = ? AND state = ? "
            f"ORDER BY rank {direction}, pk {direction} LIMIT ? OFFSET ?",
            (tx.queue, state, end - start + 1, start),
        )
    )


def _dead_rows(tx: Tx, start: int, end: int, desc: bool) -> list[dict[str, Any]]:
    page = _page(start, end, lambda: _dead_count(tx))
    if page is None:
        return []
    start, end = page
    direction = "DESC" if desc else "ASC"
    return _dicts(
        tx.conn.execute(
            f"SELECT * FROM jobs WHERE queue = ? AND dead IS NOT NULL "
            f"ORDER BY dead {direction}, pk {direction} LIMIT ? OFFSET ?",
            (tx.queue, end - start + 1, start),
        )
    )


def _dead_count(tx: Tx) -> int:
    row = tx.conn.execute(
        "SELECT count(*) FROM jobs WHERE queue = ? AND dead IS NOT NULL", (tx.queue,)
    ).fetchone()
    return int(row[0])


def _is_paused(tx: Tx) -> bool:
    row = tx.conn.execute("SELECT paused FROM queues WHERE name = ?", (tx.queue,)).fetchone()
    return bool(row and row[0])


def _next_due(tx: Tx) -> int | None:
    row = tx.conn.execute(
        "SELECT min(rank) FROM jobs WHERE queue = ? AND state = 'delayed'", (tx.queue,)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _events_after(tx: Tx, after: int, count: int) -> list[tuple[int, str, str, str]]:
    cur = tx.conn.execute(
        "SELECT seq, ev, job, fields FROM events WHERE queue = ? AND seq > ? ORDER BY seq LIMIT ?",
        (tx.queue, after, count),
    )
    return [(int(a), str(b), str(c), str(d)) for a, b, c, d in cur]


def _last_seq(tx: Tx) -> int | None:
    row = tx.conn.execute("SELECT max(seq) FROM events WHERE queue = ?", (tx.queue,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])
