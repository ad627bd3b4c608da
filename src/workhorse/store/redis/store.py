"""The Redis store: every state change is one Lua script (``lua/*.lua``), loaded once
and called by SHA (redis-py's ``Script`` falls back to loading it after a restart)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib import resources
from typing import Any, TypeVar

import orjson
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workhorse.clock import Clock, now_ms
from workhorse.errors import InvalidTransition, JobNotFound, StoreUnavailable
from workhorse.job import Job, JobState
from workhorse.store.base import (
    LIMIT_FIELDS,
    SCHEDULE_PAUSED,
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
    job_ref,
    split_ref,
)
from workhorse.store.redis.hot import Fallback, HotConnection, pack
from workhorse.store.redis.keys import (
    QueueKeys,
    queues_set,
    schedule_keys,
    value_keys,
    worker_keys,
)

_SCRIPTS = (
    "add",
    "fetch",
    "extend_locks",
    "recover_stalled",
    "oldest_ready",
    "release",
    "progress",
    "log",
    "cancel",
    "retry",
    "promote",
    "remove",
    "clean",
    "drain",
    "redrive",
    "update_data",
    "purge_dead",
    "flow_add",
    "child_done",
    "flow_child",
    "schedule_fire",
)
#: Longest a blocking read waits server-side; the socket timeout of blocking
#: connections is above it, so redis-py never times out a healthy block.
MAX_BLOCK_S = 30.0
_COMMAND_TIMEOUT_S = 30.0
_LOG_LINES_KEPT = 1000

T = TypeVar("T")


#: Scripts that are not about one queue: loaded without the prelude.
_PLAIN_SCRIPTS = ("schedule_advance", "schedule_upsert", "workers")


def _load_scripts() -> dict[str, str]:
    folder = resources.files("workhorse.store.redis") / "lua"
    prelude = (folder / "_prelude.lua").read_text()
    out = {name: prelude + (folder / f"{name}.lua").read_text() for name in _SCRIPTS}
    out.update({name: (folder / f"{name}.lua").read_text() for name in _PLAIN_SCRIPTS})
    return out


def _s(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisStore(Store):
    """Store on Redis (or Valkey).  One instance per process and event loop; use
    :meth:`clone` for another thread.  ``prefix`` separates independent Workhorse
    installations (and test runs) on one Redis database."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "wh",
        clock: Clock = now_ms,
        events_maxlen: int = 10_000,
        retries: int = 8,
    ) -> None:
        super().__init__(clock=clock, events_maxlen=events_maxlen)
        self.url = url
        self.prefix = prefix
        self._retries = retries
        retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), retries)
        errors: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=_COMMAND_TIMEOUT_S,
            socket_connect_timeout=5.0,
            retry=retry,
            retry_on_error=errors,
            health_check_interval=15,
        )
        self._scripts: dict[str, AsyncScript] = {
            name: self.redis.register_script(src) for name, src in _load_scripts().items()
        }
        self._keys: dict[str, QueueKeys] = {}
        pool = self.redis.connection_pool
        params = dict(pool.connection_kwargs)
        self._hot = (
            HotConnection(params, _COMMAND_TIMEOUT_S)
            if HotConnection.supports(params, pool.connection_class)
            else None
        )
        self._known_queues: set[str] = set()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStore:
        return cls(url, **kwargs)

    def keys(self, queue: str) -> QueueKeys:
        k = self._keys.get(queue)
        if k is None:
            k = self._keys[queue] = QueueKeys.of(self.prefix, queue)
        return k

    async def _guard(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(
                f"Redis at {self._address()} is unreachable after {self._retries} retries "
                f"({exc}). Start it (e.g. `redis-server --port 6379`) or point REDIS_URL / "
                "REDIS_HOST / REDIS_PORT at a running server."
            ) from exc

    def _address(self) -> str:
        kw = self.redis.connection_pool.connection_kwargs
        if "path" in kw:
            return str(kw["path"])
        return f"{kw.get('host', '?')}:{kw.get('port', '?')}"

    async def _run(self, script: str, queue: str, *args: Any) -> Any:
        keys = self.keys(queue)
        argv = (self.clock(), self.events_maxlen, *args)
        return await self._guard(self._scripts[script](keys=keys.script_keys, args=argv))

    async def _run_hot(self, script: str, queue: str, *args: Any) -> Any:
        """``_run`` for the per-batch scripts (fetch, add): packs the command in C
        (hiredis) and sends it on the store's bare connection (see ``hot.py``),
        bypassing the pool and retry layers, which halves the client-side cost per
        call.  Anything unusual -- the script not loaded yet after a restart, a
        connection problem -- goes through ``_run``, which loads scripts and
        retries with backoff."""
        if self._hot is None:
            return await self._run(script, queue, *args)
        keys = self.keys(queue).script_keys
        sha = self._scripts[script].sha
        packed = pack((b"EVALSHA", sha, len(keys), *keys, self.clock(), self.events_maxlen, *args))
        try:
            return await self._hot.call(packed)
        except Fallback:
            # A broken call may or may not have run.  A repeated fetch is safe
            # (finished jobs refuse a second outcome; jobs taken twice stall and
            # come back); a repeated add stores a job twice unless it has a job_id.
            return await self._run(script, queue, *args)

    # ---- producer ---------------------------------------------------------------
    async def add(self, queue: str, jobs: Sequence[NewJob]) -> list[tuple[str, bool]]:
        if not jobs:
            return []
        await self._note_queue(queue)
        argv: list[Any] = [len(jobs)]
        for j in jobs:
            argv += _job_args(j)
        raw = await self._run_hot("add", queue, *argv)
        return [(_s(raw[i]), bool(raw[i + 1])) for i in range(0, len(raw), 2)]

    async def _note_queue(self, queue: str) -> None:
        if queue not in self._known_queues:
            self.keys(queue)
            await self._guard(self.redis.sadd(queues_set(self.prefix), queue))
            self._known_queues.add(queue)

    # ---- flows ------------------------------------------------------------------
    async def add_flow(self, nodes: Sequence[FlowNode]) -> list[bool]:
        # One script call per job, parents first, all in one MULTI/EXEC: Redis runs
        # them together or, when the producer dies before EXEC, not at all, and no
        # other client sees a parent without its children.  A call for an id that
        # exists is a no-op, so a transaction retried after a lost reply is too.
        for queue in dict.fromkeys(n.queue for n in nodes):
            await self._note_queue(queue)
        script = self._scripts["flow_add"]
        async with self.redis.pipeline(transaction=True) as tx:
            for n in nodes:
                args = (
                    self.clock(),
                    self.events_maxlen,
                    *_job_args(n.job),
                    n.parent_queue,
                    n.parent_id,
                    "1" if n.fail_parent else "0",
                    *n.children,
                )
                await script(keys=self.keys(n.queue).script_keys, args=args, client=tx)
            created = await self._guard(tx.execute())
        return [bool(c) for c in created]

    async def pending_children(self, queue: str, job_id: str) -> list[str]:
        refs = await self._guard(self.redis.smembers(self.keys(queue).pending_children(job_id)))
        return sorted(_s(r) for r in refs)

    async def children_results(
        self, queue: str, job_id: str
    ) -> tuple[dict[str, bytes], dict[str, str]]:
        k = self.keys(queue)
        async with self.redis.pipeline(transaction=False) as p:
            p.hgetall(k.children_values(job_id))
            p.hgetall(k.children_failures(job_id))
            values, failures = await self._guard(p.execute())
        return (
            {_s(a): bytes(b) for a, b in values.items()},
            {_s(a): _s(b) for a, b in failures.items()},
        )

    async def _deliver(self, queue: str) -> None:
        """Hand the notices of this queue's finished flow jobs to their parents: one
        idempotent step on the parent's queue, then the notice is deleted.  A crash
        in between leaves the notice, delivered again by a later call (every
        stalled-job check looks), and the repeat changes nothing."""
        k = self.keys(queue)
        while raw := await self._guard(self.redis.lrange(k.outbox, 0, 99)):
            for entry in raw:
                await self._notice(queue, orjson.loads(entry))
                await self._guard(self.redis.lrem(k.outbox, 1, _s(entry)))

    async def _notice(self, queue: str, notice: list[str]) -> None:
        """Act on one notice of ``queue``'s outbox: ``[job id, queue, id, fail parent,
        kind, value]``.  Kinds ``c`` / ``f``: the job, a flow child, finished; its
        parent (the queue and id named) records it.  Kinds ``x`` / ``k`` / ``r``:
        an admin step on the job, a flow parent, asks its child (named) to be
        removed / cancelled / re-run.  Notices the step leaves are delivered next."""
        job_id, target_queue, target_id, fpf, kind, value = notice
        if kind in ("c", "f"):
            ref = job_ref(queue, job_id)
            more = await self._run("child_done", target_queue, target_id, ref, kind, value, fpf)
        else:
            more = await self._run(
                "flow_child", target_queue, target_id, kind, queue, job_id, value
            )
        if more:
            await self._deliver(target_queue)

    # ---- worker -----------------------------------------------------------------
    async def fetch(
        self,
        queue: str,
        token: str,
        outcomes: Sequence[Outcome],
        take: int,
        lock_ms: int,
    ) -> tuple[list[Job], list[str]]:
        argv: list[Any] = [token, self.clock() + lock_ms, take, len(outcomes)]
        for o in outcomes:
            argv += (o.job_id, o.kind.value, o.value, o.stack, o.delay_ms)
        taken, refused, notices = await self._run_hot("fetch", queue, *argv)
        jobs = [Job.from_fetch(queue, raw_id.decode(), values) for raw_id, values in taken]
        if notices:
            await self._deliver(queue)
        return jobs, [_s(r) for r in refused]

    async def extend_locks(
        self, queue: str, token: str, job_ids: Sequence[str], lock_ms: int
    ) -> list[LockNotice]:
        if not job_ids:
            return []
        raw = await self._run("extend_locks", queue, token, self.clock() + lock_ms, *job_ids)
        return [LockNotice(_s(raw[i]), _s(raw[i + 1])) for i in range(0, len(raw), 2)]

    async def release(self, queue: str, token: str, job_ids: Sequence[str]) -> int:
        if not job_ids:
            return 0
        return int(await self._run("release", queue, token, *job_ids))

    async def recover_stalled(self, queue: str, max_stalled: int) -> StalledReport:
        requeued, failed, notices = await self._run("recover_stalled", queue, max_stalled)
        if notices:
            await self._deliver(queue)
        return StalledReport([_s(x) for x in requeued], [_s(x) for x in failed])

    async def set_progress(self, queue: str, job_id: str, progress: bytes) -> None:
        await self._run("progress", queue, job_id, progress)

    async def add_log(self, queue: str, job_id: str, line: str) -> int:
        return int(await self._run("log", queue, job_id, line, _LOG_LINES_KEPT))

    async def wake(self, queue: str) -> None:
        await self._guard(self.redis.zadd(self.keys(queue).marker, {"0": 0}))

    def waiter(self, queue: str) -> Waiter:
        return _RedisWaiter(_dedicated_client(self.url), self.keys(queue).marker, self.clock)

    # ---- inspection -------------------------------------------------------------
    async def get_job(self, queue: str, job_id: str) -> Job | None:
        raw = await self._guard(self.redis.hgetall(self.keys(queue).job(job_id)))
        if not raw:
            return None
        return Job.from_fields(queue, job_id, {_s(k): v for k, v in raw.items()})

    async def get_logs(self, queue: str, job_id: str, start: int = 0, end: int = -1) -> list[str]:
        raw = await self._guard(self.redis.lrange(self.keys(queue).logs(job_id), start, end))
        return [_s(x) for x in raw]

    async def get_history(self, queue: str, job_id: str) -> list[dict[str, Any]]:
        raw = await self._guard(self.redis.lrange(self.keys(queue).history(job_id), 0, -1))
        return [orjson.loads(x) for x in reversed(raw)]

    async def counts(self, queue: str) -> dict[JobState, int]:
        k = self.keys(queue)
        async with self.redis.pipeline(transaction=False) as p:
            p.llen(k.wait)
            p.zcard(k.prio)
            p.zcard(k.delayed)
            p.zcard(k.active)
            p.zcard(k.completed)
            p.zcard(k.failed)
            p.zcard(k.wchildren)
            w, pr, d, a, c, f, wc = await self._guard(p.execute())
        return {
            JobState.WAITING: w,
            JobState.PRIORITIZED: pr,
            JobState.DELAYED: d,
            JobState.ACTIVE: a,
            JobState.COMPLETED: c,
            JobState.FAILED: f,
            JobState.WAITING_CHILDREN: wc,
        }

    async def list_jobs(
        self, queue: str, state: JobState, start: int = 0, end: int = 49, desc: bool = True
    ) -> list[Job]:
        k = self.keys(queue)
        if state is JobState.WAITING:
            # The list is LPUSHed and RPOPped: its tail is the next job to run.
            n = await self._guard(self.redis.llen(k.wait))
            if desc:
                ids: Any = await self.redis.lrange(k.wait, start, end)
            elif start >= n:
                ids = []
            else:
                last = n - 1 if end < 0 or end >= n else end
                ids = list(reversed(await self.redis.lrange(k.wait, n - 1 - last, n - 1 - start)))
        else:
            key = {
                JobState.PRIORITIZED: k.prio,
                JobState.DELAYED: k.delayed,
                JobState.ACTIVE: k.active,
                JobState.COMPLETED: k.completed,
                JobState.FAILED: k.failed,
                JobState.WAITING_CHILDREN: k.wchildren,
            }.get(state)
            if key is None:
                return []
            ids = await self._guard(self.redis.zrange(key, start, end, desc=desc))
        return await self._jobs(queue, ids)

    async def _jobs(self, queue: str, ids: Any) -> list[Job]:
        """The jobs of these ids (skipping any deleted meanwhile), in that order."""
        if not ids:
            return []
        k = self.keys(queue)
        async with self.redis.pipeline(transaction=False) as p:
            for raw_id in ids:
                p.hgetall(k.job(_s(raw_id)))
            rows = await self._guard(p.execute())
        return [
            Job.from_fields(queue, _s(raw_id), {_s(a): b for a, b in row.items()})
            for raw_id, row in zip(ids, rows, strict=True)
            if row
        ]

    async def queues(self) -> list[str]:
        names = await self._guard(self.redis.smembers(queues_set(self.prefix)))
        return sorted(_s(n) for n in names)

    # ---- admin ------------------------------------------------------------------
    async def cancel(self, queue: str, job_id: str) -> JobState | None:
        state = await self._run("cancel", queue, job_id)
        await self._deliver(queue)
        return JobState(_s(state)) if state else None

    async def retry_job(self, queue: str, job_id: str, state: JobState) -> None:
        _check_finished(state)
        moved = await self._run("retry", queue, state.value, 1, job_id)
        await self._deliver(queue)  # a flow parent's children to re-run
        if moved != 1:
            raise InvalidTransition(
                f"job {job_id} is not {state.value}; only a {state.value} job can be retried"
            )

    async def retry_jobs(self, queue: str, state: JobState, limit: int) -> int:
        _check_finished(state)
        moved = int(await self._run("retry", queue, state.value, limit))
        await self._deliver(queue)
        return moved

    async def promote(self, queue: str, job_id: str) -> None:
        if not await self._run("promote", queue, job_id):
            raise InvalidTransition(f"job {job_id} is not delayed")

    async def remove(self, queue: str, job_id: str) -> bool:
        result = int(await self._run("remove", queue, job_id))
        await self._deliver(queue)
        if result < 0:
            raise InvalidTransition(f"job {job_id} is active; cancel it instead of removing it")
        return result == 1

    async def clean(self, queue: str, state: JobState, grace_ms: int, limit: int) -> list[str]:
        if state is JobState.ACTIVE:
            raise InvalidTransition("active jobs cannot be cleaned; cancel them")
        removed = await self._run("clean", queue, state.value, self.clock() - grace_ms, limit)
        await self._deliver(queue)
        return [_s(x) for x in removed]

    async def set_paused(self, queue: str, paused: bool) -> None:
        k = self.keys(queue)
        async with self.redis.pipeline(transaction=True) as p:
            if paused:
                p.hset(k.meta, "paused", "1")
            else:
                p.hdel(k.meta, "paused")
                p.zadd(k.marker, {"0": 0})
            p.xadd(
                k.events,
                {"ev": "paused" if paused else "resumed", "id": ""},
                maxlen=self.events_maxlen,
                approximate=True,
            )
            await self._guard(p.execute())

    async def set_fifo_first(self, queue: str, fifo_first: bool) -> None:
        k = self.keys(queue)
        if fifo_first:
            await self._guard(self.redis.hset(k.meta, "fifo_first", "1"))
        else:
            await self._guard(self.redis.hdel(k.meta, "fifo_first"))

    async def set_limits(self, queue: str, limits: Mapping[str, int | None]) -> None:
        k = self.keys(queue)
        async with self.redis.pipeline(transaction=True) as p:
            for name, value in limits.items():
                if value is None:
                    p.hdel(k.meta, name)
                else:
                    p.hset(k.meta, name, value)
            p.zadd(k.marker, {"0": 0})
            await self._guard(p.execute())

    async def get_limits(self, queue: str) -> dict[str, int]:
        raw = await self._guard(self.redis.hmget(self.keys(queue).meta, list(LIMIT_FIELDS)))
        return {n: int(v) for n, v in zip(LIMIT_FIELDS, raw, strict=True) if v is not None}

    async def is_paused(self, queue: str) -> bool:
        flag: Any = await self._guard(self.redis.hget(self.keys(queue).meta, "paused"))
        return bool(flag == b"1")

    async def drain(self, queue: str, include_delayed: bool) -> int:
        total = 0
        while n := int(await self._run("drain", queue, "1" if include_delayed else "0")):
            total += n
        await self._deliver(queue)
        return total

    async def obliterate(self, queue: str, force: bool) -> None:
        k = self.keys(queue)
        n_active: int = await self._guard(self.redis.zcard(k.active))
        if n_active and not force:
            raise InvalidTransition(
                f"queue {queue!r} has active jobs; wait for them, or pass force=True"
            )
        notices = await self._flows_leaving(queue)
        batch: list[bytes] = []
        async for key in self.redis.scan_iter(match=_glob(k.base) + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await self.redis.unlink(*batch)
                batch.clear()
        if batch:
            await self.redis.unlink(*batch)
        await self.redis.srem(queues_set(self.prefix), queue)
        self._known_queues.discard(queue)
        for notice in notices:
            await self._notice(queue, notice)

    async def _flows_leaving(self, queue: str) -> list[list[str]]:
        """What obliterating ``queue`` must tell other queues, as outbox notices (see
        :meth:`_notice`): a parent elsewhere, that its unfinished child here failed
        with reason ``removed``; a child elsewhere that a parent here waits for,
        that it is to be removed."""
        k = self.keys(queue)
        notices: list[list[str]] = []
        unfinished = (k.wait, k.prio, k.delayed, k.active, k.wchildren)
        for key in unfinished:
            is_list = key == k.wait
            start = 0
            while True:
                span = (start, start + 999)
                page: Any = (self.redis.lrange if is_list else self.redis.zrange)(key, *span)
                chunk: list[bytes] = await self._guard(page)
                if not chunk:
                    break
                start += len(chunk)
                async with self.redis.pipeline(transaction=False) as p:
                    for raw in chunk:
                        p.hmget(k.job(_s(raw)), ["pq", "pid", "fpf"])
                    parents = await self._guard(p.execute())
                for raw, (pq, pid, fpf) in zip(chunk, parents, strict=True):
                    if pq is not None and _s(pq) != queue:
                        notices.append([_s(raw), _s(pq), _s(pid), _s(fpf or b"1"), "f", "removed"])
        pend = k.pending_children("")
        async for key in self.redis.scan_iter(match=_glob(pend) + "*", count=1000):
            parent = _s(key)[len(pend) :]
            for ref in sorted(_s(r) for r in await self._guard(self.redis.smembers(key))):
                child_queue, child = split_ref(ref)
                if child_queue != queue:
                    notices.append([parent, child_queue, child, "0", "x", ""])
        return notices

    # ---- schedules ----------------------------------------------------------------
    async def upsert_schedule(self, key: str, spec: bytes, next_at: int) -> bool:
        script = self._scripts["schedule_upsert"]
        keys = list(schedule_keys(self.prefix))
        args: list[str | bytes | int] = [key, spec, next_at, SCHEDULE_PAUSED]
        return bool(await self._guard(script(keys=keys, args=args)))

    async def schedules(self) -> list[StoredSchedule]:
        return await self._schedules("-inf", "+inf", None)

    async def due_schedules(self, now: int, limit: int) -> list[StoredSchedule]:
        return await self._schedules("-inf", now, limit)

    async def _schedules(self, low: Any, high: Any, limit: int | None) -> list[StoredSchedule]:
        specs, nexts = schedule_keys(self.prefix)
        start, num = (None, None) if limit is None else (0, limit)
        due: Any = await self._guard(
            self.redis.zrangebyscore(nexts, low, high, start=start, num=num, withscores=True)
        )
        if not due:
            return []
        raw: Any = await self._guard(self.redis.hmget(specs, [k for k, _ in due]))
        return [
            StoredSchedule(_s(k), bytes(spec), int(at))
            for (k, at), spec in zip(due, raw, strict=True)
            if spec is not None
        ]

    async def advance_schedule(self, key: str, tick: int, next_at: int) -> bool:
        _, nexts = schedule_keys(self.prefix)
        script = self._scripts["schedule_advance"]
        return bool(await self._guard(script(keys=[nexts], args=[key, tick, next_at])))

    async def fire_schedule(
        self, key: str, tick: int, next_at: int, queue: str, job: NewJob
    ) -> tuple[str, bool] | None:
        # One script over the queue's keys and the schedules' zset: a single-node
        # store (as flows need too); in a cluster they would be different slots.
        await self._note_queue(queue)
        _, nexts = schedule_keys(self.prefix)
        keys = [*self.keys(queue).script_keys, nexts.encode()]
        args = (self.clock(), self.events_maxlen, key, tick, next_at, *_job_args(job))
        out = await self._guard(self._scripts["schedule_fire"](keys=keys, args=args))
        return (_s(out[0]), bool(out[1])) if out else None

    async def remove_schedule(self, key: str) -> bool:
        specs, nexts = schedule_keys(self.prefix)
        async with self.redis.pipeline(transaction=True) as p:
            p.hdel(specs, key)
            p.zrem(nexts, key)
            removed, _ = await self._guard(p.execute())
        return bool(removed)

    # ---- dead letters -----------------------------------------------------------
    async def dead_letters(
        self, queue: str, start: int = 0, end: int = 49, desc: bool = True
    ) -> list[Job]:
        k = self.keys(queue)
        ids = await self._guard(self.redis.zrange(k.dead, start, end, desc=desc))
        return await self._jobs(queue, ids)

    async def dead_letter_count(self, queue: str) -> int:
        return int(await self._guard(self.redis.zcard(self.keys(queue).dead)))

    async def update_data(self, queue: str, job_id: str, data: bytes) -> None:
        result = int(await self._run("update_data", queue, job_id, data))
        if result == 0:
            raise JobNotFound(queue, job_id)
        if result < 0:
            raise InvalidTransition(
                f"job {job_id} is not failed; only the data of a failed job can be edited"
            )

    async def redrive(self, queue: str, job_id: str) -> None:
        moved = int(await self._run("redrive", queue, "id", job_id))
        await self._deliver(queue)
        if moved != 1:
            raise InvalidTransition(f"job {job_id} is not a dead letter of queue {queue!r}")

    async def redrive_dead(
        self, queue: str, start: int, batch: int, name: str, reason: str
    ) -> tuple[int, int]:
        moved, seen = await self._run("redrive", queue, "filter", start, batch, name, reason)
        await self._deliver(queue)
        return int(moved), int(seen)

    async def purge_dead(self, queue: str) -> int:
        return int(await self._run("purge_dead", queue))

    # ---- shared values --------------------------------------------------------------
    async def put_value(self, key: str, value: bytes, ttl_ms: int) -> None:
        data, exp = value_keys(self.prefix)
        now = self.clock()
        expired = await self._guard(self.redis.zrangebyscore(exp, "-inf", now))
        async with self.redis.pipeline(transaction=True) as p:
            if expired:
                p.hdel(data, *expired)
                p.zrem(exp, *expired)
            p.hset(data, key, value)
            p.zadd(exp, {key: now + ttl_ms})
            await self._guard(p.execute())

    async def values(self, prefix: str) -> dict[str, bytes]:
        data, exp = value_keys(self.prefix)
        unexpired: Any = await self._guard(
            self.redis.zrangebyscore(exp, f"({self.clock()}", "+inf")
        )
        live = [key for key in map(_s, unexpired) if key.startswith(prefix)]
        if not live:
            return {}
        found = await self._guard(self.redis.hmget(data, live))
        return {k: bytes(v) for k, v in zip(live, found, strict=True) if isinstance(v, bytes)}

    # ---- worker registry and observability --------------------------------------
    async def register_worker(self, info: WorkerInfo, ttl_ms: int) -> None:
        now = self.clock()
        infos, alive = worker_keys(self.prefix)
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(infos, info.id, _worker_json(info, now))
            p.zadd(alive, {info.id: now + ttl_ms})
            await self._guard(p.execute())

    async def unregister_worker(self, worker_id: str) -> None:
        infos, alive = worker_keys(self.prefix)
        async with self.redis.pipeline(transaction=True) as p:
            p.hdel(infos, worker_id)
            p.zrem(alive, worker_id)
            await self._guard(p.execute())

    async def workers(self) -> list[WorkerInfo]:
        script = self._scripts["workers"]
        raw = await self._guard(script(keys=list(worker_keys(self.prefix)), args=[self.clock()]))
        found = [_worker_info(_s(raw[i]), raw[i + 1]) for i in range(0, len(raw), 2)]
        return sorted(found, key=lambda w: w.id)

    async def oldest_ready_at(self, queue: str) -> int | None:
        at = await self._run("oldest_ready", queue)
        return None if at is None else int(at)

    # ---- events -----------------------------------------------------------------
    async def read_events(self, queue: str, after: str, count: int = 500) -> list[Event]:
        raw = await self._guard(self.redis.xread({self.keys(queue).events: after}, count=count))
        return _parse_events(queue, raw)

    def event_reader(self, queue: str) -> EventReader:
        return _RedisEventReader(self, queue)

    async def last_event_position(self, queue: str) -> str:
        info: Any = await self._guard(self.redis.xrevrange(self.keys(queue).events, count=1))
        return _s(info[0][0]) if info else "0-0"

    # ---- lifecycle --------------------------------------------------------------
    def clone(self) -> RedisStore:
        return RedisStore(
            self.url,
            prefix=self.prefix,
            clock=self.clock,
            events_maxlen=self.events_maxlen,
            retries=self._retries,
        )

    async def ping(self) -> None:
        await self._guard(self.redis.ping())

    async def close(self) -> None:
        if self._hot is not None:
            self._hot.close()
        await self.redis.aclose()


def _job_args(j: NewJob) -> tuple[Any, ...]:
    """The 12 values of one job, in the order the scripts' ``store_job`` reads them."""
    return (
        j.job_id or "",
        j.name,
        j.data,
        j.opts,
        j.priority,
        j.delay_ms,
        j.owner,
        j.tags,
        j.meta,
        j.keep_completed,
        j.keep_failed,
        j.group,
    )


def _worker_json(info: WorkerInfo, heartbeat_at: int) -> bytes:
    return orjson.dumps(
        {
            "host": info.host,
            "pid": info.pid,
            "queues": list(info.queues),
            "concurrency": info.concurrency,
            "active": info.active,
            "started_at": info.started_at,
            "heartbeat_at": heartbeat_at,
        }
    )


def _worker_info(worker_id: str, raw: bytes) -> WorkerInfo:
    f = orjson.loads(raw)
    return WorkerInfo(
        id=worker_id,
        host=str(f["host"]),
        pid=int(f["pid"]),
        queues=tuple(str(q) for q in f["queues"]),
        concurrency=int(f["concurrency"]),
        active=int(f["active"]),
        started_at=int(f["started_at"]),
        heartbeat_at=int(f["heartbeat_at"]),
    )


def _parse_events(queue: str, raw: Any) -> list[Event]:
    out: list[Event] = []
    for _stream, entries in raw or ():
        for pos, fields in entries:
            f = {_s(a): _s(b) for a, b in fields.items()}
            out.append(Event(_s(pos), queue, f.pop("ev", ""), f.pop("id", ""), f))
    return out


def _dedicated_client(url: str) -> aioredis.Redis:
    """One connection for one blocking reader: closing it interrupts the read, and a
    cancelled read never leaves a reply pending on a connection someone reuses."""
    pool = aioredis.ConnectionPool.from_url(
        url, max_connections=1, socket_timeout=MAX_BLOCK_S + 15.0, socket_connect_timeout=5.0
    )
    return aioredis.Redis(connection_pool=pool)


class _RedisEventReader(EventReader):
    def __init__(self, store: RedisStore, queue: str) -> None:
        self._store = store
        self._queue = queue
        self._key = store.keys(queue).events
        self._client = _dedicated_client(store.url)

    async def read(self, after: str, block_ms: int, count: int = 500) -> list[Event]:
        block_ms = max(1, min(block_ms, int(MAX_BLOCK_S * 1000)))
        raw = await self._store._guard(
            self._client.xread({self._key: after}, count=count, block=block_ms)
        )
        return _parse_events(self._queue, raw)

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)


def _check_finished(state: JobState) -> None:
    if state not in (JobState.FAILED, JobState.COMPLETED):
        raise ValueError(f"state must be failed or completed, got {state.value}")


class _RedisWaiter(Waiter):
    """Blocks on the queue's marker zset (BZPOPMIN) on a connection of its own."""

    def __init__(self, client: aioredis.Redis, marker: str, clock: Callable[[], int]) -> None:
        self._client = client
        self._marker = marker
        self._clock = clock
        self._due: int | None = None

    async def wait(self, timeout: float) -> None:
        deadline = self._clock() + int(timeout * 1000)
        while True:
            now = self._clock()
            if self._due is not None and self._due <= now:
                self._due = None
                return
            limit = deadline if self._due is None else min(deadline, self._due)
            remaining = (limit - now) / 1000
            if remaining <= 0:
                return
            block = max(min(remaining, MAX_BLOCK_S), 0.001)
            try:
                popped: Any = await self._client.bzpopmin(self._marker, timeout=block)
            except (RedisConnectionError, RedisTimeoutError):
                await asyncio.sleep(min(remaining, 0.5))
                return
            if popped is None:
                continue
            _key, member, raw_score = popped
            score = float(raw_score)
            if member == b"0" or score <= self._clock():
                return
            self._due = int(score) if self._due is None else min(self._due, int(score))

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)


def _glob(prefix: str) -> str:
    """``prefix`` escaped for a SCAN MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
